import fs from 'node:fs';
import path from 'node:path';
import type { Browser } from 'playwright-core';
import { request } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { startBackend, stopAllBackends } from '../support/backend.js';
import { launchChromium } from '../support/browser.js';
import { closeAllHeldClients, openHeldClient } from '../support/held-client.js';
import { projectRoot, startThumbtack, stopAllThumbtacks } from '../support/thumbtack.js';

/** Test artifacts (the page's screenshot) land here; the directory is git-ignored. */
const artifacts = path.join(projectRoot, 'test-artifacts');

let browser: Browser | undefined;

afterEach(async () => {
  await browser?.close();
  browser = undefined;
  closeAllHeldClients();
  await stopAllThumbtacks();
  await stopAllBackends();
});

describe('status page', () => {
  it('shows live figures in a real browser: connections, publishes, deliveries, channels and latency change as traffic flows', async () => {
    const backend = await startBackend((_req, res) => {
      res.writeHead(200, {
        'Content-Type': 'text/event-stream',
        'Grip-Hold': 'stream',
        'Grip-Channel': 'scores',
      });
      res.end(':open\n\n');
    });
    const tt = await startThumbtack({ routes: `* ${backend.target}\n` });
    browser = await launchChromium();
    const page = await browser.newPage();
    const pageErrors: string[] = [];
    page.on('pageerror', (err) => pageErrors.push(err.message));
    await page.goto(`${tt.controlUrl}/status`);
    await page.waitForFunction(() => document.getElementById('connections-total') !== null);
    expect(await page.textContent('#publishes-total')).toBe('0');

    const streams = [openHeldClient(`${tt.url}/a`), openHeldClient(`${tt.url}/b`)];
    await Promise.all(streams.map((s) => s.waitFor(':open')));
    await page.waitForFunction(
      () => document.getElementById('connections-sse')?.textContent === '2',
      undefined,
      { timeout: 10_000 },
    );
    await page.waitForFunction(
      () => document.getElementById('channels')?.textContent?.includes('scores') ?? false,
    );

    for (let i = 0; i < 3; i++) {
      const res = await request(`${tt.controlUrl}/publish/`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          items: [{ channel: 'scores', formats: { 'http-stream': { content: `data: ${i}\n\n` } } }],
        }),
      });
      expect(res.statusCode).toBe(200);
      await res.body.text();
    }
    await Promise.all(streams.map((s) => s.waitFor('data: 2')));
    await page.waitForFunction(
      () => document.getElementById('deliveries-total')?.textContent === '6',
      undefined,
      { timeout: 10_000 },
    );
    expect(await page.textContent('#publishes-total')).toBe('3');
    // Percentiles come from the latency histogram; the chart is uPlot's canvas.
    expect(await page.textContent('#p99')).not.toBe('–');
    expect(await page.locator('#chart canvas').count()).toBeGreaterThan(0);
    expect(await page.textContent('#state')).toContain('1 worker(s) on the bus');

    fs.mkdirSync(artifacts, { recursive: true });
    await page.screenshot({ path: path.join(artifacts, 'status-page.png'), fullPage: true });
    expect(pageErrors).toEqual([]);
  });

  it('is behind the control API auth, and off with --no-status-page', async () => {
    const backend = await startBackend((_req, res) => res.end('ok\n'));
    const tt = await startThumbtack({
      routes: `* ${backend.target}\n`,
      args: ['--control-token', 'sesame'],
    });
    const denied = await request(`${tt.controlUrl}/status.json`);
    await denied.body.text();
    expect(denied.statusCode).toBe(401);
    const allowed = await request(`${tt.controlUrl}/status.json`, {
      headers: { authorization: 'Bearer sesame' },
    });
    expect(JSON.parse(await allowed.body.text())).toMatchObject({ mode: 'single' });
    await tt.stop();

    const off = await startThumbtack({
      routes: `* ${backend.target}\n`,
      args: ['--no-status-page'],
    });
    for (const pagePath of ['/status', '/status.json', '/status/uplot.js']) {
      const res = await request(`${off.controlUrl}${pagePath}`);
      await res.body.text();
      expect(res.statusCode, pagePath).toBe(404);
    }
  });
});
