import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { request } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { startGripWsBackend } from '../support/grip-ws-backend.js';
import { startBackend, stopAllBackends } from '../support/backend.js';
import { startHandlerProcess, type HandlerProcess } from '../support/handler-process.js';
import { closeAllHeldClients, openHeldClient } from '../support/held-client.js';
import { startThumbtack, stopAllThumbtacks, type Thumbtack } from '../support/thumbtack.js';

/*
 * SIGHUP reloads the settings (the config file read again) and the routes in every
 * process, without dropping a client; --routes-watch reloads the routes on an edit.
 */

const cleanups: (() => Promise<void> | void)[] = [];

afterEach(async () => {
  closeAllHeldClients();
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  await stopAllThumbtacks();
  await stopAllBackends();
});

function tempFile(name: string, text: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'thumbtack-reload-'));
  cleanups.push(() => fs.rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, name);
  fs.writeFileSync(file, text);
  return file;
}

async function publish(controlUrl: string, token: string, content: string): Promise<number> {
  const res = await request(`${controlUrl}/publish/`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify({
      items: [
        {
          channel: 'r',
          formats: {
            'http-stream': { content: `data: ${content}\n\n` },
            'http-response': { body: `${content}\n` },
          },
        },
      ],
    }),
  });
  await res.body.text();
  return res.statusCode;
}

async function startGripAndWsBackend(): Promise<string> {
  const backend = await startGripWsBackend('r');
  cleanups.push(() => backend.close());
  return backend.target;
}

function echo(socket: WebSocket, text: string): Promise<string> {
  return new Promise((resolve) => {
    socket.once('message', (data) => resolve(String(data)));
    socket.send(text);
  });
}

async function waitForHeld(tt: Thumbtack, count: number): Promise<void> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const res = await request(`${tt.controlUrl}/status.json`, {
      headers: { authorization: 'Bearer one' },
    });
    const status = JSON.parse(await res.body.text()) as { connections?: Record<string, number> };
    const held = Object.values(status.connections ?? {}).reduce((a, b) => a + b, 0);
    if (held >= count) return;
    if (Date.now() > deadline) throw new Error(`only ${held} of ${count} clients held`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

describe('reload on SIGHUP', () => {
  it('the runner reloads the config file in every process; held SSE, long-poll and WebSocket clients stay connected', async () => {
    const target = await startGripAndWsBackend();
    const config = tempFile('thumbtack.json', JSON.stringify({ controlToken: 'one' }));
    const tt = await startThumbtack({ routes: `* ${target}\n`, args: ['--config', config] });
    const sse = openHeldClient(`${tt.url}/sse`);
    await sse.waitFor(':open');
    const poll = openHeldClient(`${tt.url}/poll`);
    const socket = new WebSocket(`${tt.url.replace('http', 'ws')}/ws`);
    cleanups.push(() => socket.terminate());
    await new Promise((resolve) => socket.once('open', resolve));
    await waitForHeld(tt, 3);
    expect(await publish(tt.controlUrl, 'one', 'before')).toBe(200);
    await sse.waitFor('data: before');
    await poll.waitFor('before');
    const poll2 = openHeldClient(`${tt.url}/poll`);
    await waitForHeld(tt, 3);

    fs.writeFileSync(
      config,
      JSON.stringify({
        controlToken: 'two',
        logLevel: 'debug',
        streamBufferMax: 2097152,
        wsCompression: true,
      }),
    );
    const reloads = tt.logs.length;
    process.kill(tt.process.pid!, 'SIGHUP');
    const handlerReload = await tt.waitForLog((l) => l.msg === 'reloaded settings');
    const workerReload = await tt.waitForLog((l) => l.msg === 'reloaded settings and routes');
    // Every process names what changed; a secret by name only.
    expect(handlerReload['changed']).toEqual({
      controlToken: '(changed)',
      logLevel: 'debug',
      streamBufferMax: 2097152,
    });
    expect(workerReload['changed']).toMatchObject({ logLevel: 'debug', streamBufferMax: 2097152 });
    const restart = tt.logs
      .slice(reloads)
      .filter((l) => l.msg === 'reload: these settings need a restart; keeping their old values');
    expect(restart.map((l) => l['settings'])).toEqual([['wsCompression'], ['wsCompression']]); // handler, worker

    // The new token and log level are in effect; the old token no longer is.
    expect(await publish(tt.controlUrl, 'one', 'refused')).toBe(401);
    expect(await publish(tt.controlUrl, 'two', 'after')).toBe(200);
    await tt.waitForLog((l) => l.level === 'debug' && l.msg === 'control request');
    // Nobody was dropped.
    await sse.waitFor('data: after');
    await poll2.waitFor('after');
    expect(sse.isClosed()).toBe(false);
    expect(await echo(socket, 'still')).toBe('echo still');
  });

  it('a broken config file or a bad value keeps every setting, with one error line', async () => {
    const backend = await startBackend((_req, res) => res.end('ok\n'));
    const config = tempFile('thumbtack.json', JSON.stringify({ controlToken: 'one' }));
    const tt = await startThumbtack({
      routes: `* ${backend.target}\n`,
      args: ['--config', config],
    });
    for (const broken of [
      '{ not json',
      JSON.stringify({ controlToken: 'two', backendTimeout: 'soon' }),
    ]) {
      fs.writeFileSync(config, broken);
      const from = tt.logs.length;
      process.kill(tt.process.pid!, 'SIGHUP');
      const line = await tt.waitForLog(
        (l) =>
          l.msg === 'reload refused; keeping every setting and route' && tt.logs.indexOf(l) >= from,
      );
      expect(line.level).toBe('error');
      expect(String(line['err'])).toMatch(/config|backendTimeout/);
      expect(await publish(tt.controlUrl, 'one', 'x')).toBe(200);
      expect(await publish(tt.controlUrl, 'two', 'x')).toBe(401);
      const res = await request(`${tt.url}/`);
      expect(await res.body.text()).toBe('ok\n');
    }
    // Neither reached a child: both were refused by the runner.
    expect(tt.logs.filter((l) => l.msg?.startsWith('reloaded settings'))).toEqual([]);
  });

  it('a handler run alone reloads on SIGHUP', async () => {
    const config = tempFile('thumbtack.json', JSON.stringify({ controlToken: 'one' }));
    const handler: HandlerProcess = await startHandlerProcess({ args: ['--config', config] });
    cleanups.push(async () => {
      await handler.stop();
    });
    fs.writeFileSync(config, JSON.stringify({ controlToken: 'two' }));
    handler.process.kill('SIGHUP');
    await handler.waitForLog((l) => l.msg === 'reloaded settings');
    expect(await publish(handler.controlUrl, 'one', 'x')).toBe(401);
    expect(await publish(handler.controlUrl, 'two', 'x')).toBe(200);
  });
});

describe('--routes-watch', () => {
  it('an edited routes file is reloaded without a signal; a broken edit keeps the old routes', async () => {
    const first = await startBackend((_req, res) => res.end('first\n'));
    const second = await startBackend((_req, res) => res.end('second\n'));
    const tt = await startThumbtack({ routes: `* ${first.target}\n`, args: ['--routes-watch'] });
    const get = async (urlPath: string): Promise<string> =>
      (await request(`${tt.url}${urlPath}`)).body.text();
    expect(await get('/new')).toBe('first\n');

    fs.writeFileSync(tt.routesFile, `*,path_beg=/new ${second.target}\n* ${first.target}\n`);
    await tt.waitForLog((l) => l.msg === 'reloaded settings and routes');
    expect(await get('/new')).toBe('second\n');

    const from = tt.logs.length;
    fs.writeFileSync(tt.routesFile, `*,bogus=1 ${second.target}\n`);
    await tt.waitForLog(
      (l) =>
        l.msg === 'reload refused; keeping every setting and route' && tt.logs.indexOf(l) >= from,
    );
    expect(await get('/new')).toBe('second\n');
    expect(await get('/other')).toBe('first\n');
  });
});
