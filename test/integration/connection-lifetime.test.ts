import net from 'node:net';
import { request } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { startGripWsBackend } from '../support/grip-ws-backend.js';
import {
  closeAllHeldClients,
  openHeldClient,
  publishItems,
  streamItem,
  type HeldClient,
} from '../support/held-client.js';
import {
  holdsClientConnection,
  startThumbtack,
  stopAllThumbtacks,
  type Thumbtack,
} from '../support/thumbtack.js';
import { closeAllWsClients, connectWs, startWohBackend } from '../support/ws.js';
import { stopAllBackends } from '../support/backend.js';

/*
 * Connection lifetime (--connection-max-lifetime, --connection-lifetime-dither, route
 * max_lifetime=): a held connection past its lifetime plus its own random dither is asked
 * to reconnect the way its transport understands, and the reconnects of clients that
 * connected together spread over the dither window.
 */

const cleanups: (() => Promise<void> | void)[] = [];

afterEach(async () => {
  closeAllHeldClients();
  closeAllWsClients();
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  await stopAllThumbtacks();
  await stopAllBackends();
});

async function gripBackend(): Promise<string> {
  const backend = await startGripWsBackend('life');
  cleanups.push(() => backend.close());
  return backend.target;
}

/** The status page's disconnects by reason once `lifetime` reaches `count` (or 5 s passed). */
async function disconnectsOnceCounted(
  tt: Thumbtack,
  count: number,
): Promise<Record<string, number>> {
  const deadline = Date.now() + 5_000;
  let disconnects: Record<string, number> = {};
  while ((disconnects['lifetime'] ?? 0) < count && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 100));
    const res = await request(`${tt.controlUrl}/status.json`);
    disconnects = (JSON.parse(await res.body.text()) as { disconnects: Record<string, number> })
      .disconnects;
  }
  return disconnects;
}

async function held(tt: Thumbtack, path: string, needle: string): Promise<HeldClient> {
  const client = openHeldClient(`${tt.url}${path}`);
  await client.waitFor(needle, 15_000);
  return client;
}

describe('connection lifetime', () => {
  it('asks each transport to reconnect its own way once its lifetime is over', async () => {
    const target = await gripBackend();
    const woh = await startWohBackend((ws) => {
      if (ws.isOpening()) ws.accept();
    });
    const tt = await startThumbtack({
      routes: `*,path_beg=/woh ${woh.target},over_http\n* ${target}\n`,
      args: ['--connection-max-lifetime', '1'],
    });
    const openedAt = Date.now();
    const sse = await held(tt, '/sse', ':open');
    const stream = await held(tt, '/stream', 'open\n');
    const poll = openHeldClient(`${tt.url}/poll`);
    const ws = await connectWs(`${tt.url.replace('http', 'ws')}/ws`);
    const woh1 = await connectWs(`${tt.url.replace('http', 'ws')}/woh`);

    expect(await sse.closed).toBe('end');
    expect(sse.text()).toMatch(/^:open\n\nretry: \d+\n\n$/);
    expect(await stream.closed).toBe('end');
    expect(stream.text()).toBe('open\n');
    // A long-poll gets its timeout response, as if its Grip-Timeout had passed.
    expect(await poll.status).toBe(200);
    await poll.closed;
    expect(poll.text()).toBe('timeout\n');
    expect(await ws.waitForClose()).toEqual({ code: 1001, reason: 'connection lifetime reached' });
    expect(await woh1.waitForClose()).toEqual({
      code: 1001,
      reason: 'connection lifetime reached',
    });
    // For a WebSocket-over-HTTP backend the client is gone, as when the proxy cuts it.
    const cid = woh.cidOf(woh1);
    await woh.waitForCall((call) => call.cid === cid && call.events.at(-1)?.type === 'DISCONNECT');
    // Not before the lifetime (the whole slot of 250 ms is the margin).
    expect(Date.now() - openedAt).toBeGreaterThanOrEqual(1000);

    // Counted under their own reason (reported once a second).
    expect((await disconnectsOnceCounted(tt, 5))['lifetime']).toBe(5);
  });

  it('with --close-grace, sends WebSocket and SSE clients the go-away notice first and closes only those still there after the grace', async () => {
    const target = await gripBackend();
    const woh = await startWohBackend((ws) => {
      if (ws.isOpening()) ws.accept();
    });
    const graceMs = 2_000;
    const tt = await startThumbtack({
      routes: `*,path_beg=/woh ${woh.target},over_http\n* ${target}\n`,
      args: ['--connection-max-lifetime', '1', '--close-grace', String(graceMs / 1000)],
    });
    const sse = await held(tt, '/sse', ':open');
    const politeSse = await held(tt, '/sse', ':open');
    const stream = await held(tt, '/stream', 'open\n');
    const poll = openHeldClient(`${tt.url}/poll`);
    const ws = await connectWs(`${tt.url.replace('http', 'ws')}/ws`);
    const politeWs = await connectWs(`${tt.url.replace('http', 'ws')}/woh`);

    // A client that understands the notice leaves by itself: nothing more is sent to it.
    await politeSse.waitFor('event: goaway\n');
    politeSse.destroy();
    expect((await politeWs.next()).text).toBe('_CLOSE_');
    politeWs.socket.close(1000, 'reconnecting');
    expect(await politeWs.closed).toEqual({ code: 1000, reason: 'reconnecting' });
    const cid = woh.cidOf(politeWs);
    await woh.waitForCall((call) => call.cid === cid && call.events.at(-1)?.type === 'CLOSE');

    // The others get the notice at their lifetime, go on receiving during the grace, and are
    // closed as without a grace once it is over.
    await sse.waitFor('event: goaway\ndata: _CLOSE_\n\n');
    const noticedAt = Date.now();
    expect((await ws.next()).text).toBe('_CLOSE_');
    expect(
      (await publishItems(tt.controlUrl, [streamItem('life', 'data: during grace\n\n')])).status,
    ).toBe(200);
    await sse.waitFor('during grace');
    expect(await sse.closed).toBe('end');
    expect(Date.now() - noticedAt).toBeGreaterThanOrEqual(graceMs - 500);
    expect(sse.text()).toMatch(
      /^:open\n\nevent: goaway\ndata: _CLOSE_\n\ndata: during grace\n\nretry: \d+\n\n$/,
    );
    expect(await ws.waitForClose()).toEqual({ code: 1001, reason: 'connection lifetime reached' });
    // A plain stream and a long-poll have no notice: they end at their lifetime, as before.
    expect(await stream.closed).toBe('end');
    expect(stream.text()).toBe('open\n');
    expect(await poll.status).toBe(200);
    await poll.closed;
    expect(poll.text()).toBe('timeout\n');

    // Only the connections thumbtack closed count as `lifetime`.
    const disconnects = await disconnectsOnceCounted(tt, 4);
    expect(disconnects['lifetime']).toBe(4);
    expect(disconnects['client']).toBe(2);
  });

  it("releases a WebSocket whose client never answers the close frame after uWS's close wait", async () => {
    const target = await gripBackend();
    // --ws-idle-timeout 0 gives uWS's shortest wait, 4 s (on its 4 s timer).
    const tt = await startThumbtack({
      routes: `* ${target}\n`,
      args: ['--connection-max-lifetime', '1', '--ws-idle-timeout', '0'],
    });
    const socket = net.connect({ host: '127.0.0.1', port: tt.port, allowHalfOpen: true });
    cleanups.push(() => void socket.destroy());
    let received = Buffer.alloc(0);
    socket.on('data', (chunk: Buffer) => (received = Buffer.concat([received, chunk])));
    const ended = new Promise<number>((resolve) => socket.once('end', () => resolve(Date.now())));
    await new Promise<void>((resolve) => socket.once('connect', resolve));
    socket.write(
      'GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
        'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
    );
    // The close frame and the FIN come together; this client answers neither.
    const closeFrameAt = await ended;
    const text = received.toString('latin1');
    expect(text).toMatch(/^HTTP\/1\.1 101 /);
    expect(text.endsWith(`\x88\x1d\x03\xe9connection lifetime reached`)).toBe(true);
    const clientPort = socket.localPort!;
    expect(holdsClientConnection(tt, clientPort)).toBe(true);
    const deadline = closeFrameAt + 12_000;
    while (holdsClientConnection(tt, clientPort) && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    expect(holdsClientConnection(tt, clientPort)).toBe(false);
  });

  it('spreads the reconnects of clients that connected together evenly over the dither window', async () => {
    const target = await gripBackend();
    const lifetimeS = 1;
    const ditherS = 3;
    const tt = await startThumbtack({
      routes: `* ${target}\n`,
      args: [
        '--connection-max-lifetime',
        String(lifetimeS),
        '--connection-lifetime-dither',
        String(ditherS),
      ],
    });
    const count = 200;
    // Each client's offset is from its own request: under load, opening 300 takes a while.
    const opened: { client: HeldClient; at: number; heldAt: number }[] = [];
    for (let i = 0; i < count; i += 50) {
      const batch = Array.from({ length: Math.min(50, count - i) }, async () => {
        const at = Date.now();
        const client = await held(tt, '/sse', ':open');
        return { client, at, heldAt: Date.now() };
      });
      opened.push(...(await Promise.all(batch)));
    }
    const ends = await Promise.all(
      opened.map(({ client }) => client.closed.then(() => Date.now())),
    );
    for (const { client } of opened) expect(client.text()).toMatch(/retry: \d+\n\n$/);
    // Never before the lifetime (from the request), never after the window (from the hold).
    opened.forEach(({ at, heldAt }, i) => {
      expect(ends[i]! - at).toBeGreaterThanOrEqual(lifetimeS * 1000);
      expect(ends[i]! - heldAt).toBeLessThan((lifetimeS + ditherS) * 1000 + 1000);
    });
    // Spread, measured so that the time each client took to open (up to a second on a busy
    // machine) does not count: the middle 80 % of reconnects span most of the window (with
    // no dither they would span about the opening skew), and none of its thirds is crowded.
    const offsets = opened.map(({ heldAt }, i) => ends[i]! - heldAt).sort((a, b) => a - b);
    const p10 = offsets[Math.floor(count * 0.1)]!;
    const p90 = offsets[Math.floor(count * 0.9)]!;
    expect(p90 - p10).toBeGreaterThan(ditherS * 1000 * 0.8 * 0.65);
    const first = offsets[0]!;
    const span = offsets[count - 1]! - first;
    const thirds = [0, 0, 0];
    for (const offset of offsets) thirds[Math.min(2, Math.floor(((offset - first) / span) * 3))]!++;
    for (const n of thirds) expect(n).toBeLessThan(count * 0.55);
  });

  it('route max_lifetime= overrides the setting, and 0 turns the lifetime off', async () => {
    const target = await gripBackend();
    const tt = await startThumbtack({
      routes: `*,path_beg=/sse/short,max_lifetime=1 ${target}\n*,max_lifetime=0 ${target}\n`,
      args: ['--connection-max-lifetime', '1'],
    });
    const kept = await held(tt, '/sse/kept', ':open');
    const short = await held(tt, '/sse/short', ':open');
    expect(await short.closed).toBe('end');
    // Opened first, the other route's client would be gone by now under the setting's 1 s:
    // a publish after the short one's end still reaches it.
    expect((await publishItems(tt.controlUrl, [streamItem('life', 'after\n')])).status).toBe(200);
    await kept.waitFor('after\n');
    expect(kept.isClosed()).toBe(false);
  });

  it('refuses a max_lifetime= that is not a whole number of seconds, naming the line', async () => {
    const target = await gripBackend();
    await expect(
      startThumbtack({ routes: `*,max_lifetime=1.5 ${target}\n`, readyTimeoutMs: 5_000 }),
    ).rejects.toThrow(/max_lifetime must be a whole number of seconds, not "1\.5"/);
  });
});
