import http from 'node:http';
import type net from 'node:net';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, test, vi } from 'vitest';
import {
  startBackend,
  startRawBackend,
  stopAllBackends,
  type Backend,
  type RawBackend,
} from '../support/backend.js';
import { parseRawResponse, send, sendRaw } from '../support/client.js';
import { startThumbtack, stopAllThumbtacks, type Thumbtack } from '../support/thumbtack.js';

// Real processes on a machine that may be busy: generous bounds, all still finite.
vi.setConfig({ testTimeout: 40_000, hookTimeout: 60_000 });

interface Echo {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  rawHeaders: string[];
  body: string;
}

/** Answers by path: `/echo` describes the request it got, the others produce one framing each. */
function backendHandler(req: http.IncomingMessage, res: http.ServerResponse): void {
  const chunks: Buffer[] = [];
  req.on('data', (chunk: Buffer) => chunks.push(chunk));
  req.on('end', () => {
    const url = new URL(req.url!, 'http://x');
    const path = url.pathname.replace(/^\/grip/, '');
    if (path.startsWith('/status/')) {
      const [, , code, reason] = path.split('/');
      res.writeHead(Number(code), decodeURIComponent(reason!), { 'content-length': '0' });
      res.end();
      return;
    }
    if (path === '/length') {
      const body = 'x'.repeat(Number(url.searchParams.get('n')));
      res.writeHead(200, { 'content-length': String(body.length), 'content-type': 'text/plain' });
      res.end(req.method === 'HEAD' ? undefined : body);
      return;
    }
    if (path === '/chunked') {
      res.writeHead(200, { 'content-type': 'text/plain' });
      const parts = Number(url.searchParams.get('parts'));
      let i = 0;
      const next = () => {
        if (i === parts) {
          res.end();
          return;
        }
        res.write(`part ${i++};`);
        setImmediate(next);
      };
      next();
      return;
    }
    if (path === '/no-content') {
      res.writeHead(204, { 'x-seen': 'yes' });
      res.end();
      return;
    }
    if (path === '/not-modified') {
      res.writeHead(304, { etag: '"v1"' });
      res.end();
      return;
    }
    if (path === '/cookies') {
      res.setHeader('set-cookie', ['a=1; Path=/', 'b=2; Path=/']);
      res.setHeader('x-camel-Case', 'kept');
      res.end('cookies');
      return;
    }
    const echo: Echo = {
      method: req.method!,
      url: req.url!,
      headers: req.headers,
      rawHeaders: req.rawHeaders,
      body: Buffer.concat(chunks).toString(),
    };
    const body = JSON.stringify(echo);
    res.writeHead(200, {
      'content-type': 'application/json',
      'content-length': String(Buffer.byteLength(body)),
    });
    res.end(req.method === 'HEAD' ? undefined : body);
  });
}

/** Hand-written responses node:http would never produce, chosen by request path. */
const rawResponses: Record<string, { text: string; close: boolean }> = {
  '/raw/close-delimited': {
    text: 'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\nuntil the end',
    close: true,
  },
  '/raw/hop-by-hop': {
    text:
      'HTTP/1.1 200 OK\r\n' +
      'Connection: keep-alive, X-Hop-Nominated\r\n' +
      'Keep-Alive: timeout=5, max=100\r\n' +
      'X-Hop-Nominated: secret\r\n' +
      'Proxy-Connection: keep-alive\r\n' +
      'Upgrade: h2c\r\n' +
      'Trailer: X-Checksum\r\n' +
      'X-End-To-End: kept\r\n' +
      'X-Repeated: one\r\n' +
      'X-Repeated: two\r\n' +
      'Content-Length: 2\r\n\r\nok',
    close: false,
  },
  '/raw/connection-close': {
    text: 'HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 6\r\n\r\nclosed',
    close: true,
  },
};

function rawBackendConnection(socket: net.Socket): void {
  let buffered = '';
  socket.on('data', (chunk) => {
    buffered += chunk.toString('latin1');
    let end: number;
    while ((end = buffered.indexOf('\r\n\r\n')) !== -1) {
      const head = buffered.slice(0, end);
      buffered = buffered.slice(end + 4);
      const path = head.split(' ')[1]!;
      if (path === '/raw/echo-head') {
        // The request head exactly as the proxy sent it, bytes unchanged.
        const body = Buffer.from(head, 'latin1');
        socket.write(`HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\n\r\n`);
        socket.write(body);
        continue;
      }
      if (path === '/raw/utf8-header') {
        const body = Buffer.from('ok');
        socket.write(
          Buffer.concat([
            Buffer.from('HTTP/1.1 200 OK\r\nX-Utf8: '),
            Buffer.from('naïve ✓ value', 'utf8'),
            Buffer.from(`\r\nContent-Length: ${body.length}\r\n\r\n`),
            body,
          ]),
        );
        continue;
      }
      const response = rawResponses[path] ?? {
        text: 'HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n',
        close: false,
      };
      if (response.close) socket.end(response.text);
      else socket.write(response.text);
    }
  });
}

let tt: Thumbtack;
let backend: Backend;
let raw: RawBackend;

beforeAll(async () => {
  backend = await startBackend(backendHandler);
  raw = await startRawBackend(rawBackendConnection);
  tt = await startThumbtack({
    routes: [
      `*,id=plain,no_grip ${backend.target}`,
      `*,id=grip,path_beg=/grip/ ${backend.target}`,
      `*,id=raw,path_beg=/raw/,no_grip ${raw.target}`,
    ].join('\n'),
  });
});

afterAll(async () => {
  await stopAllThumbtacks();
  await stopAllBackends();
});

async function echoOf(path: string, options: Parameters<typeof send>[1] = {}): Promise<Echo> {
  const res = await send(tt.url + path, options);
  expect(res.status).toBe(200);
  return JSON.parse(res.body.toString()) as Echo;
}

function chunkedBody(parts: string[]): Readable {
  return Readable.from(parts.map((p) => Buffer.from(p)));
}

// Both a plain route and a GRIP route: a GRIP route must proxy a non-GRIP answer unchanged.
describe.each([
  ['no_grip route', ''],
  ['GRIP route', '/grip'],
])('%s', (_name, prefix) => {
  test.each(['GET', 'DELETE', 'OPTIONS', 'TRACE'])(
    '%s reaches the backend with its method',
    async (method) => {
      const echo = await echoOf(`${prefix}/echo`, { method });
      expect(echo.method).toBe(method);
      expect(echo.body).toBe('');
    },
  );

  test.each(['POST', 'PUT', 'PATCH'])(
    '%s reaches the backend with its method and body',
    async (method) => {
      const echo = await echoOf(`${prefix}/echo`, { method, body: `body of ${method}` });
      expect(echo.method).toBe(method);
      expect(echo.body).toBe(`body of ${method}`);
    },
  );

  test('a Content-Length request body reaches the backend with that length', async () => {
    const echo = await echoOf(`${prefix}/echo`, {
      method: 'POST',
      headers: { 'content-length': '11' },
      body: 'hello world',
    });
    expect(echo.headers['content-length']).toBe('11');
    expect(echo.headers['transfer-encoding']).toBeUndefined();
    expect(echo.body).toBe('hello world');
  });

  test('a chunked request body reaches the backend whole and in order', async () => {
    const parts = Array.from({ length: 50 }, (_, i) => `chunk-${i};`);
    const echo = await echoOf(`${prefix}/echo`, { method: 'POST', body: chunkedBody(parts) });
    expect(echo.body).toBe(parts.join(''));
    // The proxy frames the backend request itself: chunked while the body is still arriving,
    // or a Content-Length when it had all of it before the backend connection was ready.
    if (echo.headers['transfer-encoding'] === undefined) {
      expect(echo.headers['content-length']).toBe(String(parts.join('').length));
    } else {
      expect(echo.headers['transfer-encoding']).toBe('chunked');
      expect(echo.headers['content-length']).toBeUndefined();
    }
  });

  // Known gap: the uWebSockets.js build this project pins (20.30, see README: Known limitations) routes only
  // GET, POST, HEAD, PUT, DELETE, CONNECT, OPTIONS, TRACE and PATCH; any other method gets its
  // connection closed before thumbtack sees the request. This turns into a failure (and should
  // become a plain test) once a uWS release that routes every method is in use.
  test.fails.each(['PURGE', 'PROPFIND'])(
    'extension method %s reaches the backend (fails on uWS 20.30)',
    async (method) => {
      const echo = await echoOf(`${prefix}/echo`, { method, body: 'x' });
      expect(echo.method).toBe(method);
    },
  );

  test('a Content-Length response keeps its length', async () => {
    const res = await send(tt.url + `${prefix}/length?n=100000`);
    expect(res.status).toBe(200);
    expect(res.headers['content-length']).toBe('100000');
    expect(res.headers['transfer-encoding']).toBeUndefined();
    expect(res.body.toString()).toBe('x'.repeat(100000));
  });

  test('a chunked response reaches the client chunked and complete', async () => {
    const res = await send(tt.url + `${prefix}/chunked?parts=40`);
    expect(res.status).toBe(200);
    expect(res.headers['transfer-encoding']).toBe('chunked');
    expect(res.headers['content-length']).toBeUndefined();
    expect(res.body.toString()).toBe(Array.from({ length: 40 }, (_, i) => `part ${i};`).join(''));
  });

  test.each([
    [201, 'Made It'],
    [299, 'Some Custom Reason'],
    [404, 'Not Here Either'],
    [503, 'Backend Busy'],
  ])('status %i and its reason "%s" pass through', async (code, reason) => {
    const res = await send(tt.url + `${prefix}/status/${code}/${encodeURIComponent(reason)}`);
    expect(res.status).toBe(code);
    expect(res.reason).toBe(reason);
  });
});

test('a response delimited by the backend closing the connection reaches the client complete', async () => {
  const res = await send(tt.url + '/raw/close-delimited');
  expect(res.status).toBe(200);
  expect(res.body.toString()).toBe('until the end');
});

test('HEAD gets the Content-Length and no body, and the connection serves the next request', async () => {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  try {
    const head = await send(tt.url + '/length?n=1234', { method: 'HEAD', agent });
    expect(head.status).toBe(200);
    expect(head.headers['content-length']).toBe('1234');
    expect(head.headers['content-type']).toBe('text/plain');
    expect(head.body.length).toBe(0);
    const get = await send(tt.url + '/length?n=5', { agent });
    expect(get.isReusedSocket).toBe(true);
    expect(get.body.toString()).toBe('xxxxx');
  } finally {
    agent.destroy();
  }
  expect(backend.requests.some((r) => r.method === 'HEAD' && r.url === '/length?n=1234')).toBe(
    true,
  );
});

test('HEAD is also forwarded on a GRIP route and gets no body', async () => {
  const res = await send(tt.url + '/grip/length?n=77', { method: 'HEAD' });
  expect(res.status).toBe(200);
  expect(res.headers['content-length']).toBe('77');
  expect(res.body.length).toBe(0);
});

test('204 and 304 responses pass through without a body', async () => {
  const noContent = await send(tt.url + '/no-content');
  expect(noContent.status).toBe(204);
  expect(noContent.headers['x-seen']).toBe('yes');
  expect(noContent.body.length).toBe(0);
  const notModified = await send(tt.url + '/not-modified', {
    headers: { 'if-none-match': '"v1"' },
  });
  expect(notModified.status).toBe(304);
  expect(notModified.headers.etag).toBe('"v1"');
  expect(notModified.body.length).toBe(0);
});

test('hop-by-hop request headers, and those the client Connection header names, are not forwarded', async () => {
  const text = await sendRaw(
    '127.0.0.1',
    tt.port,
    'GET /echo HTTP/1.1\r\n' +
      `Host: 127.0.0.1:${tt.port}\r\n` +
      // Two Connection lines: uWS 20.30 closes after the response only on an exact "close".
      'Connection: close\r\n' +
      'Connection: X-Client-Hop\r\n' +
      'X-Client-Hop: dropped\r\n' +
      'Keep-Alive: timeout=5\r\n' +
      'Proxy-Connection: keep-alive\r\n' +
      'TE: trailers\r\n' +
      'Upgrade: h2c\r\n' +
      'X-End-To-End: kept\r\n' +
      'X-Repeated: one\r\n' +
      'X-Repeated: two\r\n' +
      '\r\n',
  );
  const { statusLine, body } = parseRawResponse(text);
  expect(statusLine).toMatch(/^HTTP\/1\.1 200/);
  const echo = JSON.parse(body) as Echo;
  for (const name of ['x-client-hop', 'keep-alive', 'proxy-connection', 'te', 'upgrade']) {
    expect(echo.headers[name], name).toBeUndefined();
  }
  // The proxy's own connection to the backend is keep-alive, whatever the client asked for.
  expect(echo.headers.connection).not.toMatch(/x-client-hop|close/i);
  expect(echo.headers['x-end-to-end']).toBe('kept');
  const repeated = echo.rawHeaders.filter(
    (_, i) => i % 2 === 1 && /^x-repeated$/i.test(echo.rawHeaders[i - 1]!),
  );
  expect(repeated).toEqual(['one', 'two']);
});

test('hop-by-hop response headers, and those the backend Connection header names, are not relayed', async () => {
  const res = await send(tt.url + '/raw/hop-by-hop');
  expect(res.status).toBe(200);
  expect(res.body.toString()).toBe('ok');
  for (const name of ['x-hop-nominated', 'keep-alive', 'proxy-connection', 'upgrade', 'trailer']) {
    expect(res.headers[name], name).toBeUndefined();
  }
  expect(res.headers.connection ?? '').not.toMatch(/x-hop-nominated/i);
  expect(res.headers['x-end-to-end']).toBe('kept');
  const repeated = res.rawHeaders.filter(
    (_, i) => i % 2 === 1 && /^x-repeated$/i.test(res.rawHeaders[i - 1]!),
  );
  expect(repeated).toEqual(['one', 'two']);
});

/** The raw bytes of header `name` in a raw HTTP head (latin1 text), or undefined. */
function headerBytes(head: string, name: string): Buffer | undefined {
  const line = head.split('\r\n').find((l) => l.toLowerCase().startsWith(name + ':'));
  return line === undefined ? undefined : Buffer.from(line.slice(name.length + 1).trim(), 'latin1');
}

test('non-ASCII bytes inside request and response header values pass through unchanged', async () => {
  const value = Buffer.from('naïve ✓ value', 'utf8');
  const head = Buffer.concat([
    Buffer.from(
      `GET /raw/echo-head HTTP/1.1\r\nHost: 127.0.0.1:${tt.port}\r\nConnection: close\r\nX-Utf8: `,
    ),
    value,
    Buffer.from('\r\n\r\n'),
  ]);
  const { body } = parseRawResponse(await sendRaw('127.0.0.1', tt.port, head));
  expect(headerBytes(body, 'x-utf8')?.toString('hex')).toBe(value.toString('hex'));

  const res = await send(tt.url + '/raw/utf8-header');
  expect(Buffer.from(res.headers['x-utf8'] as string, 'latin1').toString('hex')).toBe(
    value.toString('hex'),
  );
});

// Known gap in uWebSockets.js 20.30: its parser trims header values of every byte >= 0x80 at
// either end (a signed-char whitespace test), so `café` reaches thumbtack as `caf`. The bytes
// are gone before thumbtack sees the request. Flip to `test` once uWS is upgraded.
test.fails(
  'non-ASCII bytes at the edge of a request header value pass through (fails on uWS 20.30)',
  async () => {
    const value = Buffer.from('café', 'utf8');
    const head = Buffer.concat([
      Buffer.from(
        `GET /raw/echo-head HTTP/1.1\r\nHost: 127.0.0.1:${tt.port}\r\nConnection: close\r\nX-Utf8: `,
      ),
      value,
      Buffer.from('\r\n\r\n'),
    ]);
    const { body } = parseRawResponse(await sendRaw('127.0.0.1', tt.port, head));
    expect(headerBytes(body, 'x-utf8')?.toString('hex')).toBe(value.toString('hex'));
  },
);

test('repeated response headers such as Set-Cookie reach the client one by one', async () => {
  const res = await send(tt.url + '/cookies');
  expect(res.headers['set-cookie']).toEqual(['a=1; Path=/', 'b=2; Path=/']);
  expect(res.headers['x-camel-case']).toBe('kept');
});

test("a backend's Connection: close does not close the client's connection", async () => {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  try {
    const first = await send(tt.url + '/raw/connection-close', { agent });
    expect(first.body.toString()).toBe('closed');
    expect(first.headers.connection ?? '').not.toMatch(/close/i);
    const second = await send(tt.url + '/raw/connection-close', { agent });
    expect(second.body.toString()).toBe('closed');
    expect(second.isReusedSocket).toBe(true);
  } finally {
    agent.destroy();
  }
});

test('sequential requests reuse one kept-alive backend connection', async () => {
  const solo = await startBackend(backendHandler);
  const own = await startThumbtack({ routes: `*,no_grip ${solo.target}` });
  for (let i = 0; i < 5; i++) {
    const res = await send(own.url + `/echo?i=${i}`);
    expect(res.status).toBe(200);
  }
  expect(solo.requests).toHaveLength(5);
  expect(solo.connections).toBe(1);
  await own.stop();
});

test('the path, percent-encoding and query string reach the backend byte for byte', async () => {
  const path = '/echo/a%20b/%E2%9C%93/c;p=1?x=1&y=%2F&z=a+b&empty=&flag';
  const echo = await echoOf(path);
  expect(echo.url).toBe(path);
});

// Known gap in uWebSockets.js 20.30 (uNetworking/uWebSockets.js#1018, fixed upstream in
// v20.61): a request with an underscore in a header name (`X_Custom`, a valid token) gets no
// answer; uWS closes the connection after its idle timeout. Flip once uWS is upgraded (and
// check then that `Grip_*` names are stripped, as request-headers.ts already does).
test.fails('a header name with an underscore is answered (fails on uWS 20.30)', async () => {
  const text = await sendRaw(
    '127.0.0.1',
    tt.port,
    `GET /length?n=1 HTTP/1.1\r\nHost: x\r\nX_Custom: 1\r\nConnection: close\r\n\r\n`,
    3_000,
  );
  expect(text).toMatch(/^HTTP\/1\.1 200/);
});

// Known gap in uWebSockets.js 20.30: a second request pipelined behind one still waiting for
// its (asynchronous) response makes uWS drop the connection, and both requests are lost.
// Browsers do not pipeline; some HTTP/1.1 clients and load tools do. Flip once uWS handles it.
test.fails(
  'pipelined requests on one connection are answered in order (fails on uWS 20.30)',
  async () => {
    const text = await sendRaw(
      '127.0.0.1',
      tt.port,
      `GET /length?n=1 HTTP/1.1\r\nHost: x\r\n\r\nGET /length?n=2 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`,
      3_000,
    );
    expect(text.match(/HTTP\/1\.1 200/g)).toHaveLength(2);
    expect(text.endsWith('xx')).toBe(true);
  },
);

test('Expect: 100-continue gets the body through', async () => {
  const result = await new Promise<string>((resolve, reject) => {
    const req = http.request(tt.url + '/echo', {
      method: 'POST',
      agent: false,
      headers: { expect: '100-continue', 'content-length': '8' },
    });
    req.on('continue', () => req.end('continued'.slice(0, 8)));
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve(Buffer.concat(chunks).toString()));
    });
    req.on('error', reject);
    req.setTimeout(5_000, () => req.destroy(new Error('no 100 Continue or response within 5 s')));
  });
  const echo = JSON.parse(result) as Echo;
  expect(echo.body).toBe('continue');
  expect(echo.headers.expect).toBeUndefined();
});

test('each request is logged once with method, path, status, duration, bytes, route, target, client and user agent', async () => {
  const res = await send(tt.url + '/length?n=321&logged=1', {
    headers: { 'user-agent': 'probe/1.0' },
  });
  expect(res.status).toBe(200);
  const line = await tt.waitForLog(
    (l) => l.msg === 'request' && l.path === '/length?n=321&logged=1',
  );
  expect(line).toMatchObject({
    level: 'info',
    method: 'GET',
    status: 200,
    bytes: 321,
    route: 'plain',
    target: backend.target,
    client: '127.0.0.1',
    userAgent: 'probe/1.0',
  });
  expect(typeof line.durationMs).toBe('number');
  expect(
    tt.logs.filter((l) => l.msg === 'request' && l.path === '/length?n=321&logged=1'),
  ).toHaveLength(1);
});

test('--no-access-log-client leaves the client address and user agent out of the access line', async () => {
  const quiet = await startThumbtack({
    routes: `*,id=plain,no_grip ${backend.target}\n`,
    args: ['--no-access-log-client'],
  });
  expect(
    (await send(quiet.url + '/length?n=1', { headers: { 'user-agent': 'probe/1.0' } })).status,
  ).toBe(200);
  const line = await quiet.waitForLog((l) => l.msg === 'request' && l.path === '/length?n=1');
  expect(line).toMatchObject({ status: 200, route: 'plain' });
  expect(line).not.toHaveProperty('client');
  expect(line).not.toHaveProperty('userAgent');
});
