import type { WebSocketContext } from '@fanoutio/grip';
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import { stopAllBackends } from '../support/backend.js';
import { startThumbtack, stopAllThumbtacks, type Thumbtack } from '../support/thumbtack.js';
import {
  closeAllWsClients,
  connectWs,
  expectRefusal,
  receiveAll,
  startWohBackend,
  type WohBackend,
  type WohCall,
  type WohReply,
} from '../support/ws.js';
import { verifyGripSigHeader } from '../support/grip.js';

/** A WebSocket-over-HTTP backend whose behaviour is chosen by the request path. */
function scenario(ws: WebSocketContext, req: { url?: string }): WohReply | void {
  const path = new URL(req.url ?? '/', 'http://backend').pathname;
  if (path === '/refuse') {
    return {
      status: 403,
      headers: { 'content-type': 'text/plain', 'x-why': 'nope' },
      rawBody: 'go away\n',
    };
  }
  if (path === '/no-open') return; // accepted media type, but no OPEN and no keep-alive
  if (ws.isOpening()) {
    ws.accept();
    if (path === '/meta') ws.meta['user'] = 'alice';
    if (path === '/protocol') return { headers: { 'sec-websocket-protocol': 'p2' } };
    return;
  }
  const reply: WohReply = path === '/slow' ? { delayMs: 300 } : {};
  for (const event of ws._inEvents) {
    const content = event.getContent();
    if (event.getType() === 'BINARY' && content)
      ws.sendBinary(Buffer.concat([Buffer.from('echo:'), Buffer.from(content)]));
  }
  for (const message of receiveAll(ws)) {
    if (message.startsWith('close:')) ws.close(Number(message.slice(6)));
    else if (message === 'disconnect') ws.disconnect();
    else if (message === 'break') return { rawBody: 'TEXT zz\r\nbroken' };
    else if (message.startsWith('rawclose:')) {
      // A CLOSE event with exactly these bytes (hex) as content, right or wrong.
      const content = Buffer.from(message.slice(9), 'hex');
      const head = Buffer.from(`CLOSE ${content.length.toString(16)}\r\n`);
      return { rawBody: Buffer.concat([head, content, Buffer.from('\r\n')]) };
    } else if (message === 'meta?') ws.send(`meta:${ws.meta['user'] ?? ''}`);
    else ws.send(`echo:${message}`);
  }
  if (ws.closeCode !== null) ws.close(ws.closeCode);
  return reply;
}

let backend: WohBackend;
let downBackend: WohBackend;
let tt: Thumbtack;
let wsUrl: string;

beforeAll(async () => {
  backend = await startWohBackend(scenario);
  downBackend = await startWohBackend(scenario);
  tt = await startThumbtack({
    routes: `*,path_beg=/down ${downBackend.target},over_http\n* ${backend.target},over_http\n`,
    args: ['--ws-retry-max', '2', '--ws-retry-delay', '0.05'],
  });
  wsUrl = tt.url.replace(/^http/, 'ws');
});

afterEach(() => closeAllWsClients());

afterAll(async () => {
  await stopAllThumbtacks();
  await stopAllBackends();
});

const callsOf = (cid: string): WohCall[] => backend.calls.filter((c) => c.cid === cid);
const types = (call: WohCall): string => call.events.map((e) => e.type).join(',');
const texts = (call: WohCall): string[] =>
  call.events.map((e) => e.content?.toString('latin1') ?? '');

describe('WebSocket-over-HTTP sessions', () => {
  test('the upgrade is accepted after the backend accepts OPEN; text and binary are echoed', async () => {
    const client = await connectWs(`${wsUrl}/echo`);
    const open = callsOf(backend.cidOf(client))[0]!;
    expect(types(open)).toBe('OPEN');
    client.socket.send('hi');
    expect(await client.next()).toMatchObject({ text: 'echo:hi', isBinary: false });
    client.socket.send(Buffer.from([0, 1, 2, 255]), { binary: true });
    const binary = await client.next();
    expect(binary.isBinary).toBe(true);
    expect([...binary.data]).toEqual([...Buffer.from('echo:'), 0, 1, 2, 255]);
    const calls = callsOf(open.cid);
    expect(calls.map(types)).toEqual(['OPEN', 'TEXT', 'BINARY']);
    // The bytes Content-Length counts: protocol 4.2 encoding, lower-case hex lengths.
    expect(calls.map((call) => call.body.toString('latin1'))).toEqual([
      'OPEN\r\n',
      'TEXT 2\r\nhi\r\n',
      'BINARY 4\r\n\x00\x01\x02\xff\r\n',
    ]);
    for (const call of calls) {
      expect(call.headers['content-type']).toBe('application/websocket-events');
      expect(call.headers['accept']).toBe('application/websocket-events');
      expect(call.headers['sec-websocket-extensions']).toBe('grip');
      await expect(verifyGripSigHeader(call.headers['grip-sig'])).resolves.toMatchObject({
        iss: 'pushpin',
      });
      expect(call.headers['content-length']).toBe(String(call.body.length));
      expect(call.headers['transfer-encoding']).toBeUndefined();
    }
    expect(open.cid).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
  });

  test('every request replays the handshake headers, without client Meta-* or Grip-*', async () => {
    const headers = { cookie: 'a=b', 'meta-user': 'evil', 'grip-sig': 'forged', 'x-app': '1' };
    const first = await connectWs(`${wsUrl}/echo?q=1`, { headers });
    first.socket.send('one');
    await first.next();
    const second = await connectWs(`${wsUrl}/echo?q=2`, { headers });
    const [open, text] = backend.calls.filter((c) => c.headers['x-app'] === '1');
    expect(open!.cid).toBe(text!.cid);
    expect(backend.cidOf(second)).not.toBe(open!.cid);
    for (const call of [open!, text!]) {
      expect(call.headers['cookie']).toBe('a=b');
      expect(call.headers['meta-user']).toBeUndefined();
      expect(call.headers['grip-sig']).not.toBe('forged');
      expect(call.headers['sec-websocket-key']).toBeDefined();
      expect(call.headers['upgrade']).toBeUndefined();
    }
    second.socket.close();
  });

  test('a refusal from the backend is the HTTP answer to the upgrade', async () => {
    const refusal = await expectRefusal(`${wsUrl}/refuse`);
    expect(refusal.status).toBe(403);
    expect(refusal.headers['x-why']).toBe('nope');
    expect(refusal.body).toBe('go away\n');
  });

  test('an accepting answer without OPEN or Keep-Alive-Interval fails the upgrade with 502', async () => {
    const refusal = await expectRefusal(`${wsUrl}/no-open`);
    expect(refusal.status).toBe(502);
    await tt.waitForLog((l) => l.msg === 'websocket handshake failed');
  });

  test('a client sending application/websocket-events itself is refused with 403', async () => {
    const refusal = await expectRefusal(`${wsUrl}/echo`, {
      headers: { 'content-type': 'application/websocket-events' },
    });
    expect(refusal.status).toBe(403);
  });

  test('one request in flight: messages sent during a slow answer go out in one batch, in order', async () => {
    const client = await connectWs(`${wsUrl}/slow`);
    const cid = backend.cidOf(client);
    for (const text of ['m1', 'm2', 'm3', 'm4', 'm5']) client.socket.send(text);
    const received: string[] = [];
    for (let i = 0; i < 5; i++) received.push((await client.next()).text);
    expect(received).toEqual(['echo:m1', 'echo:m2', 'echo:m3', 'echo:m4', 'echo:m5']);
    const calls = callsOf(cid);
    expect(calls.map(types)).toEqual(['OPEN', 'TEXT', 'TEXT,TEXT,TEXT,TEXT']);
    expect(texts(calls[2]!)).toEqual(['m2', 'm3', 'm4', 'm5']);
  });

  test('Set-Meta-* from the backend comes back as Meta-* on later requests', async () => {
    const client = await connectWs(`${wsUrl}/meta`, { headers: { 'meta-user': 'evil' } });
    const open = callsOf(backend.cidOf(client))[0]!;
    expect(open.headers['meta-user']).toBeUndefined();
    client.socket.send('meta?');
    expect((await client.next()).text).toBe('meta:alice');
    expect(callsOf(open.cid)[1]!.headers['meta-user']).toBe('alice');
  });

  test('the websocket opened line names the session, route, target, client address and user agent', async () => {
    const client = await connectWs(`${wsUrl}/echo?logged=1`, {
      headers: { 'user-agent': 'ws-probe/2' },
    });
    const cid = backend.cidOf(client);
    const line = await tt.waitForLog((l) => l.msg === 'websocket opened' && l['cid'] === cid);
    expect(line).toMatchObject({
      path: '/echo?logged=1',
      target: backend.target,
      status: 101,
      client: '127.0.0.1',
      userAgent: 'ws-probe/2',
    });
  });

  test('a subprotocol chosen by the backend is passed back to the client', async () => {
    const client = await connectWs(`${wsUrl}/protocol`, { protocols: ['p1', 'p2'] });
    expect(client.socket.protocol).toBe('p2');
    expect(callsOf(backend.cidOf(client))[0]!.headers['sec-websocket-protocol']).toBe('p1,p2');
  });

  test('a client ping is forwarded as a PING event', async () => {
    const client = await connectWs(`${wsUrl}/echo`);
    const cid = backend.cidOf(client);
    client.socket.ping('are you there');
    const call = await backend.waitForCall((c) => c.cid === cid && types(c) === 'PING');
    expect(texts(call)).toEqual(['are you there']);
  });

  test('a client close with code and reason reaches the backend as CLOSE', async () => {
    const client = await connectWs(`${wsUrl}/echo`);
    const cid = backend.cidOf(client);
    client.socket.close(4000, 'bye');
    expect(await client.waitForClose()).toEqual({ code: 4000, reason: 'bye' });
    const call = await backend.waitForCall((c) => c.cid === cid && types(c) === 'CLOSE');
    expect(call.events[0]!.content).toEqual(Buffer.from('\x0f\xa0bye', 'latin1'));
  });

  test('a backend CLOSE closes the client with its code', async () => {
    const client = await connectWs(`${wsUrl}/echo`);
    const cid = backend.cidOf(client);
    client.socket.send('close:4001');
    expect((await client.waitForClose()).code).toBe(4001);
    // The client's echo of the close is reported to the backend.
    const call = await backend.waitForCall((c) => c.cid === cid && types(c) === 'CLOSE');
    expect(call.events[0]!.content).toEqual(Buffer.from([0x0f, 0xa1]));
  });

  test.each([
    ['1005 (no status: never sent)', '03ed'],
    ['0', '0000'],
    ['5000', '1388'],
    ['1015 (TLS failure: never sent)', '03f7'],
  ])(
    'a backend CLOSE with code %s, which clients refuse, closes the client with 1011',
    async (_name, hex) => {
      const client = await connectWs(`${wsUrl}/echo`);
      client.socket.send(`rawclose:${hex}`);
      expect(await client.waitForClose()).toEqual({ code: 1011, reason: '' });
      await tt.waitForLog(
        (l) =>
          l.msg === 'backend CLOSE code is one clients refuse; closing with 1011' &&
          l.code === parseInt(hex, 16),
      );
    },
  );

  test('a backend CLOSE reason that is not UTF-8 is left out; its code is kept', async () => {
    const client = await connectWs(`${wsUrl}/echo`);
    client.socket.send('rawclose:0fa1fffe');
    expect(await client.waitForClose()).toEqual({ code: 4001, reason: '' });
    const client2 = await connectWs(`${wsUrl}/echo`);
    client2.socket.send(`rawclose:0fa1${Buffer.from('fine é').toString('hex')}`);
    expect(await client2.waitForClose()).toEqual({ code: 4001, reason: 'fine é' });
  });

  test('a backend DISCONNECT drops the client without a close frame', async () => {
    const client = await connectWs(`${wsUrl}/echo`);
    client.socket.send('disconnect');
    expect((await client.waitForClose()).code).toBe(1006);
  });

  test('a client that vanishes is reported to the backend with DISCONNECT', async () => {
    const client = await connectWs(`${wsUrl}/echo`);
    const cid = backend.cidOf(client);
    client.socket.terminate();
    await backend.waitForCall((c) => c.cid === cid && types(c) === 'DISCONNECT');
  });

  test('a malformed answer closes that session with 1014 and a logged reason; others go on', async () => {
    const bystander = await connectWs(`${wsUrl}/echo`);
    const client = await connectWs(`${wsUrl}/echo`);
    client.socket.send('break');
    expect(await client.waitForClose()).toEqual({ code: 1014, reason: 'backend unavailable' });
    const line = await tt.waitForLog((l) => l.msg === 'websocket backend failed');
    expect(String(line['reason'])).toContain('invalid events');
    bystander.socket.send('still here');
    expect((await bystander.next()).text).toBe('echo:still here');
  });

  test('a backend that goes down mid-session is retried, then the client gets 1014', async () => {
    const client = await connectWs(`${wsUrl}/down/echo`);
    client.socket.send('before');
    expect((await client.next()).text).toBe('echo:before');
    await downBackend.close();
    client.socket.send('after');
    expect(await client.waitForClose()).toEqual({ code: 1014, reason: 'backend unavailable' });
    const retries = tt.logs.filter((l) => l.msg === 'backend request failed; retrying');
    expect(retries.length).toBeGreaterThanOrEqual(2);
    await tt.waitForLog(
      (l) =>
        l.msg === 'websocket backend failed' &&
        /unreachable after 2 retries: ECONNREFUSED/.test(String(l['reason'])),
    );
  });
});
