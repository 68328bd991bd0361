import type http from 'node:http';
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import { WebSocketServer, type WebSocket } from 'ws';
import { startBackend, stopAllBackends, type Backend } from '../support/backend.js';
import { freePort } from '../support/free-port.js';
import { publishOk } from '../support/grip.js';
import { startThumbtack, stopAllThumbtacks, type Thumbtack } from '../support/thumbtack.js';
import { closeAllWsClients, connectWs, expectRefusal, wsItem } from '../support/ws.js';

interface Seen {
  path: string;
  headers: http.IncomingHttpHeaders;
  socket: WebSocket;
  closes: { code: number; reason: string }[];
  pings: string[];
}

/**
 * A real WebSocket backend (`ws`): `/refuse` answers 401; `/grip*` accepts the grip
 * extension (`/grip-noprefix` with `message-prefix=""`); messages are echoed, `close:<code>`
 * closes with that code, `ctl:<json>` sends a control message, `raw:<text>` sends text as is.
 */
async function startWsBackend(): Promise<{ backend: Backend; seen: Seen[] }> {
  const seen: Seen[] = [];
  const backend = await startBackend((_req, res) => {
    res.writeHead(426);
    res.end();
  });
  const wss = new WebSocketServer({
    noServer: true,
    perMessageDeflate: false,
    handleProtocols: (protocols) => (protocols.has('p2') ? 'p2' : false),
  });
  wss.on('headers', (headers, req) => {
    headers.push('X-Backend: yes');
    if (req.url?.startsWith('/grip-noprefix'))
      headers.push('Sec-WebSocket-Extensions: grip; message-prefix=""');
    else if (req.url?.startsWith('/grip')) headers.push('Sec-WebSocket-Extensions: grip');
  });
  backend.server.on('upgrade', (req: http.IncomingMessage, socket, head) => {
    if (req.url === '/refuse') {
      socket.end(
        'HTTP/1.1 401 Unauthorized\r\nX-Why: no token\r\nContent-Length: 8\r\nConnection: close\r\n\r\nno auth\n',
      );
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      const entry: Seen = {
        path: req.url ?? '',
        headers: req.headers,
        socket: ws,
        closes: [],
        pings: [],
      };
      seen.push(entry);
      const prefix =
        req.url?.startsWith('/grip') && !req.url.startsWith('/grip-noprefix') ? 'm:' : '';
      ws.on('ping', (data: Buffer) => entry.pings.push(data.toString()));
      ws.on('close', (code, reason) => entry.closes.push({ code, reason: reason.toString() }));
      ws.on('message', (data: Buffer, isBinary) => {
        const text = data.toString();
        if (isBinary) ws.send(Buffer.concat([Buffer.from(prefix), data]), { binary: true });
        else if (text.startsWith('close:')) ws.close(Number(text.slice(6)), 'bye from backend');
        else if (text.startsWith('ctl:')) {
          ws.send(`c:${text.slice(4)}`);
          ws.send(`${prefix}ok`);
        } else if (text.startsWith('raw:')) ws.send(text.slice(4));
        else ws.send(`${prefix}echo:${text}`);
      });
    });
  });
  return { backend, seen };
}

let backend: Backend;
let seen: Seen[];
let tt: Thumbtack;
let wsUrl: string;

beforeAll(async () => {
  ({ backend, seen } = await startWsBackend());
  const deadPort = await freePort();
  tt = await startThumbtack({
    routes: [
      `*,path_beg=/dead 127.0.0.1:${deadPort}`,
      `*,path_beg=/implicit ${backend.target},sub=pt-news`,
      `* ${backend.target}`,
      '',
    ].join('\n'),
  });
  wsUrl = tt.url.replace(/^http/, 'ws');
});

afterEach(() => closeAllWsClients());

afterAll(async () => {
  await stopAllThumbtacks();
  await stopAllBackends();
});

describe('passthrough WebSockets', () => {
  test('text and binary are relayed both ways through a real backend WebSocket', async () => {
    const client = await connectWs(`${wsUrl}/echo`);
    client.socket.send('hello');
    expect(await client.next()).toMatchObject({ text: 'echo:hello', isBinary: false });
    client.socket.send(Buffer.from([1, 2, 3]), { binary: true });
    const binary = await client.next();
    expect(binary.isBinary).toBe(true);
    expect([...binary.data]).toEqual([1, 2, 3]);
  });

  test('the handshake is forwarded with Grip-Sig and the grip extension; client Grip-* removed, Meta-* kept', async () => {
    await connectWs(`${wsUrl}/echo?x=1`, {
      headers: { 'grip-sig': 'forged', 'meta-user': 'kept', cookie: 'a=b' },
    });
    const { headers, path } = seen.at(-1)!;
    expect(path).toBe('/echo?x=1');
    expect(headers['grip-sig']).toMatch(/^ey[\w-]+\.[\w-]+\.[\w-]+$/);
    expect(headers['sec-websocket-extensions']).toBe('grip');
    expect(headers['meta-user']).toBe('kept');
    expect(headers['cookie']).toBe('a=b');
    expect(headers['x-forwarded-for']).toBe('127.0.0.1');
    expect(headers['host']).toBe(new URL(tt.url).host);
  });

  test('the backend’s subprotocol and 101 headers reach the client, its extensions do not', async () => {
    const client = await connectWs(`${wsUrl}/grip`, { protocols: ['p1', 'p2'] });
    expect(client.socket.protocol).toBe('p2');
    expect(client.headers['x-backend']).toBe('yes');
    expect(client.headers['sec-websocket-extensions']).toBeUndefined();
  });

  test('a backend refusal is the HTTP answer to the upgrade', async () => {
    const refusal = await expectRefusal(`${wsUrl}/refuse`);
    expect(refusal.status).toBe(401);
    expect(refusal.headers['x-why']).toBe('no token');
    expect(refusal.body).toBe('no auth\n');
  });

  test('an unreachable backend answers the upgrade with 502', async () => {
    const refusal = await expectRefusal(`${wsUrl}/dead`);
    expect(refusal.status).toBe(502);
  });

  test('a client close code and reason reach the backend', async () => {
    const client = await connectWs(`${wsUrl}/echo`);
    const entry = seen.at(-1)!;
    client.socket.close(4005, 'client leaves');
    await client.waitForClose();
    await expect.poll(() => entry.closes).toEqual([{ code: 4005, reason: 'client leaves' }]);
  });

  test('a backend close code and reason reach the client', async () => {
    const client = await connectWs(`${wsUrl}/echo`);
    client.socket.send('close:4002');
    expect(await client.waitForClose()).toEqual({ code: 4002, reason: 'bye from backend' });
  });

  test('client pings are relayed to the backend', async () => {
    const client = await connectWs(`${wsUrl}/echo`);
    const entry = seen.at(-1)!;
    client.socket.ping('hi backend');
    await expect.poll(() => entry.pings).toEqual(['hi backend']);
  });

  test('with the grip extension, control messages work and the m: prefix applies', async () => {
    const client = await connectWs(`${wsUrl}/grip`);
    client.socket.send('ctl:{"type":"subscribe","channel":"pt-chan"}');
    expect((await client.next()).text).toBe('ok');
    client.socket.send('raw:unprefixed is dropped');
    client.socket.send('after');
    expect((await client.next()).text).toBe('echo:after');
    await publishOk(tt, wsItem('pt-chan', { content: 'published' }));
    expect((await client.next()).text).toBe('published');
  });

  test('with message-prefix="" every non-control message is relayed', async () => {
    const client = await connectWs(`${wsUrl}/grip-noprefix`);
    client.socket.send('raw:as is');
    expect((await client.next()).text).toBe('as is');
  });

  test('without the grip extension, c: messages are relayed verbatim', async () => {
    const client = await connectWs(`${wsUrl}/echo`);
    client.socket.send('ctl:{"type":"subscribe","channel":"x"}');
    expect((await client.next()).text).toBe('c:{"type":"subscribe","channel":"x"}');
  });

  test('a route sub= channel delivers publishes on a passthrough route', async () => {
    const client = await connectWs(`${wsUrl}/implicit/x`);
    await publishOk(tt, wsItem('pt-news', { content: 'news item' }));
    expect((await client.next()).text).toBe('news item');
  });
});
