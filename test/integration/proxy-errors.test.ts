import http from 'node:http';
import type net from 'node:net';
import { afterAll, beforeAll, expect, test, vi } from 'vitest';
import {
  startBackend,
  startRawBackend,
  stopAllBackends,
  type Backend,
  type RawBackend,
} from '../support/backend.js';
import { send, sendRaw } from '../support/client.js';
import { freePort } from '../support/free-port.js';
import {
  startThumbtack,
  stopAllThumbtacks,
  waitUntil,
  type Thumbtack,
} from '../support/thumbtack.js';

// Real processes on a machine that may be busy: generous bounds, all still finite.
vi.setConfig({ testTimeout: 40_000, hookTimeout: 60_000 });

let tt: Thumbtack;
let ok: Backend;
/** Never answers: requests wait here until the test (or the proxy) ends them. */
let silent: Backend;
/** Streams a response body for as long as the client reads. */
let endless: Backend;
let reset: RawBackend;
let cutLength: RawBackend;
let cutChunked: RawBackend;
let deadPort: number;
let deadPort2: number;

interface Exchange {
  req: http.IncomingMessage;
  res: http.ServerResponse;
}
const silentExchanges: Exchange[] = [];
const endlessExchanges: Exchange[] = [];

/** Answers the request head with a TCP reset. */
function resetOnRequest(socket: net.Socket): void {
  socket.once('data', () => socket.resetAndDestroy());
}

/** Sends part of a response, then resets the connection. */
function cutAfter(head: string, partial: string): (socket: net.Socket) => void {
  return (socket) => {
    socket.once('data', () => {
      socket.write(head + partial, () => setImmediate(() => socket.resetAndDestroy()));
    });
  };
}

beforeAll(async () => {
  ok = await startBackend((_req, res) => res.end('fine'));
  silent = await startBackend((req, res) => {
    silentExchanges.push({ req, res });
  });
  endless = await startBackend((req, res) => {
    endlessExchanges.push({ req, res });
    res.writeHead(200, { 'content-type': 'application/octet-stream' });
    const chunk = Buffer.alloc(64 * 1024, 7);
    const write = () => {
      while (!res.destroyed && res.write(chunk));
    };
    res.on('drain', write);
    write();
    req.resume();
  });
  reset = await startRawBackend(resetOnRequest);
  cutLength = await startRawBackend(
    cutAfter('HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n', 'only ten b'),
  );
  cutChunked = await startRawBackend(
    cutAfter('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n', 'a\r\nonly ten b\r\n'),
  );
  [deadPort, deadPort2] = await Promise.all([freePort(), freePort()]);
  tt = await startThumbtack({
    args: ['--backend-timeout', '1'],
    routes: [
      `*,id=ok,path_beg=/ok/,no_grip ${ok.target}`,
      `*,id=refused,path_beg=/refused/,no_grip 127.0.0.1:${deadPort}`,
      `*,id=all-dead,path_beg=/all-dead/,no_grip 127.0.0.1:${deadPort} 127.0.0.1:${deadPort2}`,
      `*,id=debug,path_beg=/debug/,no_grip,debug 127.0.0.1:${deadPort}`,
      `*,id=reset,path_beg=/reset/,no_grip ${reset.target}`,
      `*,id=slow,path_beg=/slow/,no_grip ${silent.target}`,
      `*,id=slow-grip,path_beg=/slow-grip/ ${silent.target}`,
      `*,id=endless,path_beg=/endless/,no_grip ${endless.target}`,
      `*,id=cut-length,path_beg=/cut-length/,no_grip ${cutLength.target}`,
      `*,id=cut-chunked,path_beg=/cut-chunked/,no_grip ${cutChunked.target}`,
    ].join('\n'),
  });
});

afterAll(async () => {
  await stopAllThumbtacks();
  await stopAllBackends();
});

/** Resolves when the backend side of an exchange is closed (the proxy dropped the request). */
function closedOnBackend({ res }: Exchange): Promise<void> {
  return new Promise((resolve) => {
    if (res.closed) resolve();
    res.once('close', () => resolve());
  });
}

/** Starts a request and returns it without waiting: the test aborts it. */
function openRequest(
  path: string,
  method = 'GET',
): { req: http.ClientRequest; error: Promise<Error> } {
  const req = http.request(tt.url + path, { method, agent: false });
  const error = new Promise<Error>((resolve) => req.on('error', resolve));
  return { req, error };
}

test('a request no route matches gets 502 with a short text body', async () => {
  const res = await send(tt.url + '/nowhere');
  expect(res.status).toBe(502);
  expect(res.headers['content-type']).toMatch(/^text\/plain/);
  expect(res.body.length).toBeGreaterThan(0);
  expect(res.body.length).toBeLessThan(200);
  const access = await tt.waitForLog((l) => l.msg === 'request' && l.path === '/nowhere');
  expect(access).toMatchObject({ method: 'GET', status: 502, bytes: res.body.length });
});

test('a request with a body no route matches gets 502 too', async () => {
  const res = await send(tt.url + '/nowhere-post', {
    method: 'POST',
    body: Buffer.alloc(1024 * 1024, 1),
  });
  expect(res.status).toBe(502);
});

test('a no-route request body is read before the 502, so the connection serves the next request', async () => {
  // Answering mid-body closed the connection under a client still writing (EPIPE there).
  const body = Buffer.alloc(256 * 1024, 0x61);
  const port = Number(new URL(tt.url).port);
  const raw = await sendRaw(
    '127.0.0.1',
    port,
    Buffer.concat([
      Buffer.from(
        `POST /nowhere-post HTTP/1.1\r\nHost: x\r\nContent-Length: ${body.length}\r\n\r\n`,
      ),
      body,
      Buffer.from('GET /nowhere-get HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'),
    ]),
  );
  expect(raw.match(/^HTTP\/1\.1 502 /gm)).toHaveLength(2);
});

test('a backend refusing the connection gives 502 and a log line naming route and target', async () => {
  const res = await send(tt.url + '/refused/x');
  expect(res.status).toBe(502);
  expect(res.headers['content-type']).toMatch(/^text\/plain/);
  expect(res.body.toString()).not.toMatch(/ECONNREFUSED|127\.0\.0\.1/); // details only with `debug`
  expect(res.body.length).toBeGreaterThan(0);
  expect(res.body.length).toBeLessThan(200);
  const line = await tt.waitForLog((l) => l.level === 'error' && l.route === 'refused');
  expect(line.target).toBe(`127.0.0.1:${deadPort}`);
  const access = await tt.waitForLog((l) => l.msg === 'request' && l.route === 'refused');
  expect(access).toMatchObject({ status: 502, target: `127.0.0.1:${deadPort}` });
});

test('every target of a route refusing gives 502 after trying each one', async () => {
  const res = await send(tt.url + '/all-dead/x');
  expect(res.status).toBe(502);
  const tried = await tt.waitForLog((l) => l.level === 'warn' && l.route === 'all-dead');
  const failed = await tt.waitForLog((l) => l.level === 'error' && l.route === 'all-dead');
  expect(new Set([tried.target, failed.target])).toEqual(
    new Set([`127.0.0.1:${deadPort}`, `127.0.0.1:${deadPort2}`]),
  );
});

test('a debug route puts the failure and the target in the 502 body', async () => {
  const res = await send(tt.url + '/debug/x');
  expect(res.status).toBe(502);
  expect(res.body.toString()).toContain('ECONNREFUSED');
  expect(res.body.toString()).toContain(`127.0.0.1:${deadPort}`);
});

test('a backend resetting the connection gives 502 and a log line naming route and target', async () => {
  const res = await send(tt.url + '/reset/x');
  expect(res.status).toBe(502);
  expect(res.body.length).toBeGreaterThan(0);
  expect(res.body.length).toBeLessThan(200);
  const line = await tt.waitForLog((l) => l.level === 'error' && l.route === 'reset');
  expect(line.target).toBe(reset.target);
});

test.each(['slow', 'slow-grip'])(
  'a backend slower than --backend-timeout gives 504 and a log line (route %s)',
  async (route) => {
    const started = Date.now();
    const res = await send(tt.url + `/${route}/x`, { timeoutMs: 20_000 });
    const elapsed = Date.now() - started;
    expect(res.status).toBe(504);
    expect(res.headers['content-type']).toMatch(/^text\/plain/);
    expect(res.body.length).toBeGreaterThan(0);
    expect(res.body.length).toBeLessThan(200);
    expect(elapsed).toBeGreaterThanOrEqual(900);
    expect(elapsed).toBeLessThan(10_000);
    const line = await tt.waitForLog((l) => l.level === 'error' && l.route === route);
    expect(line.target).toBe(silent.target);
    expect(line.msg).toMatch(/timed out/);
  },
);

test('a response cut short after its head reaches the client as a broken response, not a complete one', async () => {
  for (const route of ['cut-length', 'cut-chunked']) {
    const outcome = await new Promise<string>((resolve) => {
      const req = http.get(tt.url + `/${route}/x`, { agent: false }, (res) => {
        let body = '';
        res.on('data', (chunk: Buffer) => (body += chunk.toString()));
        res.on('aborted', () => resolve('aborted'));
        res.on('error', () => resolve('aborted'));
        res.on('end', () => resolve(`complete: ${res.statusCode} ${body}`));
      });
      req.on('error', () => resolve('aborted'));
    });
    expect(outcome, route).toBe('aborted');
    const line = await tt.waitForLog((l) => l.level === 'error' && l.route === route);
    expect(line.target).toMatch(/^127\.0\.0\.1:\d+$/);
  }
});

test.each(['slow', 'slow-grip'])(
  'a client aborting while the backend thinks cancels the backend request (route %s)',
  async (route) => {
    const before = silentExchanges.length;
    const { req, error } = openRequest(`/${route}/abort-waiting`);
    req.end();
    await waitUntil(() => silentExchanges.length > before);
    const exchange = silentExchanges[before]!;
    const closed = closedOnBackend(exchange);
    req.destroy();
    await error;
    await closed;
    expect(exchange.res.writableEnded).toBe(false);
    const line = await tt.waitForLog(
      (l) => l.msg === 'client aborted the request' && l.path === `/${route}/abort-waiting`,
    );
    expect(line).toMatchObject({ route, target: silent.target });
  },
);

test('a client aborting in the middle of its upload cancels the backend request', async () => {
  const before = silentExchanges.length;
  const { req, error } = openRequest('/slow/abort-upload', 'POST');
  req.write(Buffer.alloc(64 * 1024, 1));
  await waitUntil(() => silentExchanges.length > before);
  const backendReq = silentExchanges[before]!.req;
  let received = 0;
  let isEnded = false;
  backendReq.on('data', (chunk: Buffer) => (received += chunk.length));
  backendReq.on('end', () => (isEnded = true));
  await waitUntil(() => received > 0);
  const closed = new Promise<void>((resolve) => backendReq.once('close', () => resolve()));
  req.destroy();
  await error;
  await closed;
  expect(isEnded).toBe(false);
});

test('a client aborting in the middle of a download cancels the backend response', async () => {
  const before = endlessExchanges.length;
  const clientGotBytes = new Promise<http.ClientRequest>((resolve, reject) => {
    const req = http.get(tt.url + '/endless/x', { agent: false }, (res) => {
      res.once('data', () => resolve(req));
    });
    req.on('error', (err) => {
      if (!req.destroyed) reject(err);
    });
  });
  const req = await clientGotBytes;
  const exchange = endlessExchanges[before]!;
  const closed = closedOnBackend(exchange);
  req.destroy();
  await closed;
  expect(exchange.res.writableEnded).toBe(false);
});

test('the proxy keeps serving after every kind of failure', async () => {
  const res = await send(tt.url + '/ok/after');
  expect(res.status).toBe(200);
  expect(res.body.toString()).toBe('fine');
});
