import type { WebSocketContext } from '@fanoutio/grip';
import { afterAll, describe, test, vi } from 'vitest';
import { stopAllBackends } from '../support/backend.js';
import { startThumbtack, stopAllThumbtacks } from '../support/thumbtack.js';
import {
  closeAllWsClients,
  connectWs,
  receiveAll,
  startWohBackend,
  type WohReply,
} from '../support/ws.js';

/** Echoes; `/slow` answers every request after 500 ms; `/keepalive` asks for keep-alives. */
function scenario(ws: WebSocketContext, req: { url?: string }): WohReply | void {
  const path = new URL(req.url ?? '/', 'http://backend').pathname;
  if (ws.isOpening()) {
    ws.accept();
    if (path === '/keepalive') return { headers: { 'Keep-Alive-Interval': '5' } };
    return;
  }
  if (ws._inEvents.length === 0) ws.send('polled');
  for (const message of receiveAll(ws)) ws.send(`echo:${message}`);
  return path === '/slow' ? { delayMs: 500 } : undefined;
}

// The tests run two at a time, each on its own backend and instances: the 20 s keep-alive
// test (first) holds one slot while the others take turns in the second, instead of the
// file waiting it out alone. Cleanup therefore waits for all of them.
vi.setConfig({ maxConcurrency: 2 });

afterAll(async () => {
  closeAllWsClients();
  await stopAllThumbtacks();
  await stopAllBackends();
});

const wsUrlOf = (url: string) => url.replace(/^http/, 'ws');

/** Up to three instances start at once beside other test files: room past the default 20 s. */
const readyTimeoutMs = 50_000;

describe.concurrent('client limits', { timeout: 90_000 }, () => {
  test('Keep-Alive-Interval makes the proxy poll the backend with an empty request (at least 20 s)', async ({
    expect,
  }) => {
    const backend = await startWohBackend(scenario);
    const tt = await startThumbtack({ routes: `* ${backend.target},over_http\n`, readyTimeoutMs });
    const client = await connectWs(`${wsUrlOf(tt.url)}/keepalive`);
    const cid = backend.cidOf(client);
    const started = Date.now();
    expect((await client.next(25_000)).text).toBe('polled');
    // The backend asked for 5 s; Pushpin raises anything below 20 s to 20 s.
    expect(Date.now() - started).toBeGreaterThanOrEqual(19_000);
    const poll = backend.calls.filter((c) => c.cid === cid)[1]!;
    expect(poll.events).toEqual([]);
    expect(poll.headers['content-length']).toBe('0');
  });

  test('a message over --ws-max-message-size closes the client with 1009', async ({ expect }) => {
    const backend = await startWohBackend(scenario);
    const tt = await startThumbtack({
      routes: `* ${backend.target},over_http\n`,
      args: ['--ws-max-message-size', '1024'],
      readyTimeoutMs,
    });
    const client = await connectWs(`${wsUrlOf(tt.url)}/echo`);
    client.socket.send('x'.repeat(1024));
    expect((await client.next()).text).toBe(`echo:${'x'.repeat(1024)}`);
    client.socket.send('x'.repeat(1025));
    expect(await client.waitForClose()).toEqual({ code: 1009, reason: 'message too big' });
    const cid = backend.cidOf(client);
    // For the backend the client was cut off: DISCONNECT.
    await backend.waitForCall(
      (c) => c.cid === cid && c.events.some((e) => e.type === 'DISCONNECT'),
    );
  });

  test('a client outpacing a slow backend past --ws-buffer-max is closed with 1008', async ({
    expect,
  }) => {
    const backend = await startWohBackend(scenario);
    const tt = await startThumbtack({
      routes: `* ${backend.target},over_http\n`,
      args: ['--ws-buffer-max', '4096'],
      readyTimeoutMs,
    });
    const client = await connectWs(`${wsUrlOf(tt.url)}/slow`);
    for (let i = 0; i < 10; i++) client.socket.send('y'.repeat(1000));
    expect(await client.waitForClose()).toEqual({ code: 1008, reason: 'backend too slow' });
  });

  test('idle clients: dropped after --ws-idle-timeout without pings, kept alive with them', async ({
    expect,
  }) => {
    const backend = await startWohBackend(scenario);
    const routes = `* ${backend.target},over_http\n`;
    const [silent, pinging] = await Promise.all([
      startThumbtack({ routes, args: ['--ws-idle-timeout', '8', '--no-ws-ping'], readyTimeoutMs }),
      startThumbtack({ routes, args: ['--ws-idle-timeout', '8'], readyTimeoutMs }),
    ]);
    const dropped = await connectWs(`${wsUrlOf(silent.url)}/echo`);
    const kept = await connectWs(`${wsUrlOf(pinging.url)}/echo`);
    const started = Date.now();
    expect((await dropped.waitForClose(15_000)).code).toBe(1006);
    expect(Date.now() - started).toBeGreaterThanOrEqual(4_000);
    await kept.nextPing(15_000);
    expect(kept.socket.readyState).toBe(kept.socket.OPEN);
    kept.socket.send('still here');
    expect((await kept.next()).text).toBe('echo:still here');
  });

  test('permessage-deflate is negotiated with --ws-compression and not without', async ({
    expect,
  }) => {
    const backend = await startWohBackend(scenario);
    const routes = `* ${backend.target},over_http\n`;
    const [plain, compressing] = await Promise.all([
      startThumbtack({ routes, readyTimeoutMs }),
      startThumbtack({ routes, args: ['--ws-compression'], readyTimeoutMs }),
    ]);
    const a = await connectWs(`${wsUrlOf(plain.url)}/echo`, { perMessageDeflate: true });
    expect(a.headers['sec-websocket-extensions']).toBeUndefined();
    const b = await connectWs(`${wsUrlOf(compressing.url)}/echo`, { perMessageDeflate: true });
    expect(b.headers['sec-websocket-extensions']).toMatch(/^permessage-deflate/);
    b.socket.send('z'.repeat(10_000));
    expect((await b.next()).text).toBe(`echo:${'z'.repeat(10_000)}`);
    // The backend never sees the client's extension offer.
    expect(backend.calls.every((c) => c.headers['sec-websocket-extensions'] === 'grip')).toBe(true);
  });

  test('stopping thumbtack closes its WebSockets with 1012 (service restart)', async ({
    expect,
  }) => {
    const backend = await startWohBackend(scenario);
    const tt = await startThumbtack({ routes: `* ${backend.target},over_http\n`, readyTimeoutMs });
    const client = await connectWs(`${wsUrlOf(tt.url)}/echo`);
    const stopped = tt.stop();
    expect(await client.waitForClose()).toEqual({ code: 1012, reason: 'service restart' });
    expect(await stopped).toBe(0);
  });
});
