import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { send } from '../support/client.js';
import { closeAllHeldClients, openHeldClient } from '../support/held-client.js';
import { startExampleOnPorts, type ExampleOnPorts } from '../support/example-process.js';
import { closeAllWsClients, connectWs, expectRefusal } from '../support/ws.js';

/*
 * examples/gateway as its README tells it: `node dist/examples/gateway/main.js` (free ports
 * as flags), then the README's requests on both chains: (a) client → gateway → thumbtack →
 * backend and (b) client → thumbtack → gateway → backend.
 */

const portNames = [
  'backend-port',
  'gateway-a-port',
  'thumbtack-a-port',
  'thumbtack-a-control-port',
  'thumbtack-a-pull-port',
  'thumbtack-a-sub-port',
  'thumbtack-b-port',
  'thumbtack-b-control-port',
  'thumbtack-b-pull-port',
  'thumbtack-b-sub-port',
  'gateway-b-port',
] as const;

let example: ExampleOnPorts<(typeof portNames)[number]>;
let ports: Record<(typeof portNames)[number], number>;
const alice = { 'X-API-Key': 'alice-key' };

beforeAll(async () => {
  example = await startExampleOnPorts('gateway', portNames);
  ports = example.ports;
}, 100_000);

afterEach(() => {
  closeAllHeldClients();
  closeAllWsClients();
});

afterAll(async () => {
  await example?.stop();
});

const chains = [
  { name: '(a) client → gateway → thumbtack → backend', edge: () => ports['gateway-a-port'] },
  { name: '(b) client → thumbtack → gateway → backend', edge: () => ports['thumbtack-b-port'] },
];

describe.each(chains)('examples/gateway, $name', ({ edge }) => {
  const http = (p: string): string => `http://127.0.0.1:${edge()}${p}`;
  const ws = (p: string): string => `ws://127.0.0.1:${edge()}${p}`;

  it('a plain request with an API key (header or bearer) reaches the backend, signed by thumbtack', async () => {
    for (const headers of [alice, { Authorization: 'Bearer alice-key' }]) {
      const res = await send(http('/api/hello'), { headers });
      expect(res.status).toBe(200);
      expect(JSON.parse(res.body.toString())).toEqual({
        message: 'hello from the backend',
        consumer: 'alice',
        viaThumbtack: true,
      });
    }
  });

  it('no key or an unknown key gets 401, for requests and WebSocket upgrades', async () => {
    for (const headers of [{}, { 'X-API-Key': 'nobody' }, { Authorization: 'Bearer nobody' }]) {
      const res = await send(http('/api/hello'), { headers });
      expect(res.status).toBe(401);
      expect(res.headers['www-authenticate']).toBe('Bearer');
    }
    for (const p of ['/api/ws/echo', '/api/ws/chat']) {
      expect((await expectRefusal(ws(p))).status).toBe(401);
    }
  });

  it('an SSE stream gets its opening at once and then what is published through the same chain', async () => {
    const channel = `news-${edge()}`;
    const stream = openHeldClient(http(`/api/events/${channel}`), alice);
    expect(await stream.status).toBe(200);
    // Unbuffered: the opening comment arrives while the response is still held.
    await stream.waitFor(`: subscribed to ${channel}\n\n`);
    const res = await send(http(`/api/messages/${channel}`), {
      method: 'POST',
      headers: alice,
      body: 'hello',
    });
    expect(res.status).toBe(200);
    await stream.waitFor('data: hello\n\n');
    expect(stream.text()).toBe(`: subscribed to ${channel}\n\ndata: hello\n\n`);
  });

  it('a passthrough WebSocket echoes', async () => {
    const client = await connectWs(ws('/api/ws/echo'), { headers: alice });
    client.socket.send('ping one');
    expect((await client.next()).text).toBe('echo: ping one');
    client.socket.send('ping two');
    expect((await client.next()).text).toBe('echo: ping two');
  });

  it('a WebSocket-over-HTTP socket echoes and gets what is published to its channel', async () => {
    const client = await connectWs(ws('/api/ws/chat'), { headers: alice });
    client.socket.send('hi');
    expect((await client.next()).text).toBe('echo: hi');
    const res = await send(http('/api/messages/chat'), {
      method: 'POST',
      headers: alice,
      body: 'to everyone in chat',
    });
    expect(res.status).toBe(200);
    expect((await client.next()).text).toBe('to everyone in chat');
  });

  it('past the burst a key gets 429 with Retry-After, and after that wait it is let through', async () => {
    const bob = { 'X-API-Key': 'bob-key' };
    const results = await Promise.all(
      Array.from({ length: 60 }, () => send(http('/api/hello'), { headers: bob })),
    );
    const ok = results.filter((r) => r.status === 200);
    const limited = results.filter((r) => r.status === 429);
    expect(ok.length + limited.length).toBe(60);
    expect(ok.length).toBeGreaterThanOrEqual(10);
    expect(limited.length).toBeGreaterThan(0);
    const retryAfter = Number(limited[0]!.headers['retry-after']);
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    // Another key has its own bucket.
    expect((await send(http('/api/hello'), { headers: alice })).status).toBe(200);
    // The wait Retry-After names is the protocol under test, not a guess at timing.
    await new Promise((resolve) => setTimeout(resolve, retryAfter * 1000));
    expect((await send(http('/api/hello'), { headers: bob })).status).toBe(200);
  });
});

describe('examples/gateway, Ctrl-C', () => {
  it('SIGTERM stops both thumbtacks cleanly', async () => {
    expect(await example.stop()).toBe(0);
    expect(example.lines.filter((line) => /^thumbtack [AB] stopped/.test(line)).sort()).toEqual([
      'thumbtack A stopped (exit code 0)',
      'thumbtack B stopped (exit code 0)',
    ]);
  });
});
