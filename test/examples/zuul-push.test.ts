import { EventSource, type FetchLike } from 'eventsource';
import { fetch as undiciFetch } from 'undici';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startExampleOnPorts, type ExampleOnPorts } from '../support/example-process.js';
import { closeAllHeldClients, openHeldClient } from '../support/held-client.js';
import { closeAllWsClients, connectWs, expectRefusal, type WsTestClient } from '../support/ws.js';

/*
 * examples/zuul-push as its README tells it: `node dist/examples/zuul-push/main.js` (free
 * ports as flags; lifetime 2 s, dither 1 s and close grace 2 s, so that recycling shows
 * within the test), a `ws` client on /ws and an EventSource on /events, pushes through the
 * backend's /push/<user>, a batch of SSE streams and a WebSocket opened together and
 * recycled, and a Zuul client that reconnects on the go-away notice.
 */

const portNames = ['port', 'control-port', 'pull-port', 'sub-port', 'backend-port'] as const;
const lifetimeMs = 2_000;
const ditherMs = 1_000;
const graceMs = 2_000;

let example: ExampleOnPorts<(typeof portNames)[number]>;
let ports: Record<(typeof portNames)[number], number>;
const sources = new Set<EventSource>();

/** Clients opened at start, left alone until their lifetime is over. */
let recycled: { ends: Promise<{ ms: number; how: string }[]>; openedAt: number };

const proxy = (pathAndQuery: string): string => `http://127.0.0.1:${ports.port}${pathAndQuery}`;

async function push(
  user: string,
  message: string,
): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`http://127.0.0.1:${ports['backend-port']}/push/${user}`, {
    method: 'POST',
    body: message,
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

async function connectWebSocket(token: string): Promise<WsTestClient> {
  const client = await connectWs(proxy(`/ws?token=${token}`).replace('http', 'ws'));
  expect(JSON.parse((await client.next()).text)).toMatchObject({ type: 'connected' });
  return client;
}

/** An EventSource on /events whose events of `type` arrive in `events` (as parsed data). */
function openEventSource(token: string): { source: EventSource; next(): Promise<unknown> } {
  const source = new EventSource(proxy(`/events?token=${token}`), {
    fetch: undiciFetch as unknown as FetchLike,
  });
  sources.add(source);
  const events: unknown[] = [];
  const wakers = new Set<() => void>();
  for (const type of ['connected', 'push']) {
    source.addEventListener(type, (event) => {
      events.push({ type, ...(JSON.parse(event.data) as object) });
      for (const wake of [...wakers]) wake();
    });
  }
  const next = (): Promise<unknown> =>
    new Promise((resolve, reject) => {
      const check = (): void => {
        if (events.length === 0) return;
        clearTimeout(timer);
        wakers.delete(check);
        resolve(events.shift());
      };
      const timer = setTimeout(() => {
        wakers.delete(check);
        reject(new Error('no SSE event within 5 s'));
      }, 5_000);
      wakers.add(check);
      check();
    });
  return { source, next };
}

beforeAll(async () => {
  example = await startExampleOnPorts('zuul-push', portNames, [
    '--workers',
    '1',
    '--connection-max-lifetime',
    String(lifetimeMs / 1000),
    '--connection-lifetime-dither',
    String(ditherMs / 1000),
    '--close-grace',
    String(graceMs / 1000),
  ]);
  ports = example.ports;

  // Opened together now and checked by the last test, so their lifetime overlaps the others.
  const openedAt = Date.now();
  const streams = Array.from({ length: 8 }, () => openHeldClient(proxy('/events?token=bob-token')));
  const socket = connectWs(proxy('/ws?token=bob-token').replace('http', 'ws'));
  const ends = Promise.all([
    ...streams.map(async (stream) => {
      await stream.closed;
      const how = /^event: connected\n.*\n\nevent: goaway\ndata: _CLOSE_\n\nretry: \d+\n\n$/s.test(
        stream.text(),
      )
        ? 'goaway, retry hint'
        : stream.text();
      return { ms: Date.now() - openedAt, how };
    }),
    socket.then(async (client) => {
      const { code, reason } = await client.closed;
      const messages = client.pending.map((message) => message.text).slice(1);
      return { ms: Date.now() - openedAt, how: `${messages.join()}, ${code} ${reason}` };
    }),
  ]);
  ends.catch(() => undefined);
  recycled = { ends, openedAt };
}, 100_000);
afterEach(() => {
  for (const source of sources) source.close();
  sources.clear();
});
afterAll(async () => {
  closeAllWsClients();
  closeAllHeldClients();
  await example?.stop();
});

describe('examples/zuul-push', () => {
  it('refuses a bad token with 401, on the WebSocket and on the SSE stream', async () => {
    const refusal = await expectRefusal(proxy('/ws?token=wrong').replace('http', 'ws'));
    expect(refusal.status).toBe(401);
    expect(refusal.body).toMatch(/^unknown token/);
    const sse = await undiciFetch(proxy('/events?token=wrong'));
    expect(sse.status).toBe(401);
    expect(await sse.text()).toMatch(/^unknown token/);
  });

  it('pushes to a connected user (200, on their WebSocket or SSE stream) and answers 404 for one not connected', async () => {
    const alice = await connectWebSocket('alice-token');
    const bob = openEventSource('bob-token');
    expect(await bob.next()).toMatchObject({ type: 'connected', user: 'bob' });

    const toAlice = await push('alice', 'hi alice');
    expect(toAlice).toMatchObject({ status: 200, body: { connected: true, written: 1 } });
    expect(JSON.parse((await alice.next()).text)).toEqual({ type: 'push', message: 'hi alice' });
    const toBob = await push('bob', 'hi bob');
    expect(toBob).toMatchObject({ status: 200, body: { connected: true, written: 1 } });
    expect(await bob.next()).toEqual({ type: 'push', message: 'hi bob' });

    expect(await push('carol', 'anyone?')).toEqual({
      status: 404,
      body: { user: 'carol', connected: false },
    });
  });

  it('learns from the receipt that a user left: 404 once thumbtack holds no connection', async () => {
    const bob = openEventSource('bob-token');
    expect(await bob.next()).toMatchObject({ type: 'connected', user: 'bob' });
    bob.source.close();
    // The backend is not told of the close; thumbtack's receipt tells it at the next push.
    const deadline = Date.now() + 5_000;
    let answer = await push('bob', 'still there?');
    while (answer.status === 200 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      answer = await push('bob', 'still there?');
    }
    expect(answer).toMatchObject({ status: 404, body: { connected: false, listeners: 0 } });
    // ... and forgot the connection: the next answer is its own.
    expect(await push('bob', 'hello?')).toEqual({
      status: 404,
      body: { user: 'bob', connected: false },
    });
  });

  it('a client that reconnects on the go-away notice misses no push', async () => {
    const old = await connectWebSocket('alice-token');
    expect((await old.next(lifetimeMs + ditherMs + 5_000)).text).toBe('_CLOSE_');
    // During the grace the old connection still receives.
    expect(await push('alice', 'during grace')).toMatchObject({ status: 200 });
    expect(JSON.parse((await old.next()).text)).toEqual({ type: 'push', message: 'during grace' });
    // Zuul's client: the next connection first, then leave the old one.
    const next = await connectWebSocket('alice-token');
    old.socket.close(1000, 'reconnected');
    expect(await old.closed).toEqual({ code: 1000, reason: 'reconnected' });
    expect(await push('alice', 'after')).toMatchObject({ status: 200, body: { written: 1 } });
    expect(JSON.parse((await next.next()).text)).toEqual({ type: 'push', message: 'after' });
  }, 15_000);

  it('recycles connections opened together after their lifetime, each with its own dither', async () => {
    const ends = await recycled.ends;
    expect(ends.map((end) => end.how)).toEqual([
      ...Array<string>(8).fill('goaway, retry hint'),
      '_CLOSE_, 1001 connection lifetime reached',
    ]);
    const times = ends.map((end) => end.ms);
    // Due times are kept in 250 ms slots; the bound above allows for a loaded machine.
    expect(Math.min(...times)).toBeGreaterThanOrEqual(lifetimeMs + graceMs - 50);
    expect(Math.max(...times)).toBeLessThan(lifetimeMs + ditherMs + graceMs + 2_000);
    // All eight streams in one slot: 4 · (1/4)^8, under one run in ten thousand.
    expect(Math.max(...times) - Math.min(...times), JSON.stringify(times)).toBeGreaterThan(150);
  }, 10_000);
});
