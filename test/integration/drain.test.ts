import { request } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { startGripWsBackend } from '../support/grip-ws-backend.js';
import { closeAllHeldClients, openHeldClient, type HeldClient } from '../support/held-client.js';
import { startThumbtack, stopAllThumbtacks } from '../support/thumbtack.js';

/*
 * SIGTERM with many held clients: each is told to reconnect — SSE with a `retry:` line,
 * a long-poll with 503 and Retry-After, a WebSocket with close code 1012 — and the hints
 * are spread over the drain window rather than sent at once.
 */

const cleanups: (() => Promise<void> | void)[] = [];

afterEach(async () => {
  closeAllHeldClients();
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  await stopAllThumbtacks();
});

async function startBackend(): Promise<string> {
  const backend = await startGripWsBackend('d');
  cleanups.push(() => backend.close());
  return backend.target;
}

async function openInBatches<T>(count: number, open: (i: number) => Promise<T>): Promise<T[]> {
  const opened: T[] = [];
  for (let i = 0; i < count; i += 50) {
    const batch = Array.from({ length: Math.min(50, count - i) }, (_, j) => open(i + j));
    opened.push(...(await Promise.all(batch)));
  }
  return opened;
}

describe('graceful drain', () => {
  it('1,000 held clients each get a reconnect hint, spread over the drain window, and the runner exits 0', async () => {
    const target = await startBackend();
    const windowS = 4;
    const tt = await startThumbtack({
      routes: `* ${target}\n`,
      workers: 1,
      args: ['--drain-timeout', String(windowS)],
    });
    const counts = { sse: 400, stream: 200, poll: 200, ws: 200 };
    const held = async (path: string, needle: string): Promise<HeldClient> => {
      const client = openHeldClient(`${tt.url}${path}`);
      await client.waitFor(needle, 15_000);
      return client;
    };
    const sse = await openInBatches(counts.sse, () => held('/sse', ':open'));
    const streams = await openInBatches(counts.stream, () => held('/stream', 'open\n'));
    const polls = await openInBatches(counts.poll, async () => openHeldClient(`${tt.url}/poll`));
    const sockets = await openInBatches(counts.ws, async () => {
      const socket = new WebSocket(`${tt.url.replace('http', 'ws')}/ws`);
      cleanups.push(() => socket.terminate());
      await new Promise<void>((resolve, reject) => {
        socket.once('open', () => resolve());
        socket.once('error', reject);
      });
      return socket;
    });
    // Every long-poll is held once the worker counts them.
    const deadline = Date.now() + 20_000;
    for (;;) {
      const res = await request(`${tt.controlUrl}/status.json`);
      const status = JSON.parse(await res.body.text()) as { connections: Record<string, number> };
      if (status.connections['http'] === counts.poll && status.connections['ws'] === counts.ws)
        break;
      if (Date.now() > deadline)
        throw new Error(`clients not all held: ${JSON.stringify(status.connections)}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }

    const at = (promise: Promise<unknown>): Promise<number> => promise.then(() => Date.now());
    const sseEnds = sse.map((client) => at(client.closed));
    const streamEnds = streams.map((client) => at(client.closed));
    const pollEnds = polls.map((client) => at(client.closed));
    const closes = sockets.map(
      (socket) =>
        new Promise<{ code: number; at: number }>((resolve) =>
          socket.once('close', (code) => resolve({ code, at: Date.now() })),
        ),
    );
    const sigtermAt = Date.now();
    const stopped = tt.stop();

    const times = [
      ...(await Promise.all(sseEnds)),
      ...(await Promise.all(streamEnds)),
      ...(await Promise.all(pollEnds)),
    ];
    const wsCloses = await Promise.all(closes);
    times.push(...wsCloses.map((close) => close.at));
    expect(await stopped).toBe(0);

    // None is cut without its hint.
    for (const client of sse) {
      expect(await client.closed).toBe('end');
      expect(client.text()).toMatch(/\nretry: \d+\n\n$/);
    }
    for (const client of streams) expect(await client.closed).toBe('end');
    for (const client of polls) {
      expect(await client.status).toBe(503);
      expect(client.text()).toBe('Service restarting: retry\n');
    }
    expect(wsCloses.map((close) => close.code)).toEqual(wsCloses.map(() => 1012));

    // Spread: from about the start to about 0.8 of the window, no tenth of it crowded.
    const offsets = times.map((t) => t - sigtermAt).sort((a, b) => a - b);
    const spreadMs = windowS * 1000 * 0.8;
    expect(offsets[offsets.length - 1]! - offsets[0]!).toBeGreaterThan(spreadMs * 0.6);
    expect(offsets[offsets.length - 1]!).toBeLessThan(windowS * 1000 + 1500);
    const tenths = new Array<number>(10).fill(0);
    for (const offset of offsets) {
      tenths[Math.min(9, Math.floor((offset / spreadMs) * 10))]!++;
    }
    // Evenly is 10 % per tenth; a busy machine may bunch a few, never most of them.
    expect(Math.max(...tenths)).toBeLessThan(offsets.length * 0.25);
  }, 90_000);
});
