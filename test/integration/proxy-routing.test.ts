import type http from 'node:http';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, expect, test, vi } from 'vitest';
import { startBackend, stopAllBackends, type Backend } from '../support/backend.js';
import { send } from '../support/client.js';
import { freePort } from '../support/free-port.js';
import { startThumbtack, stopAllThumbtacks, type Thumbtack } from '../support/thumbtack.js';

// Real processes on a machine that may be busy: generous bounds, all still finite.
vi.setConfig({ testTimeout: 40_000, hookTimeout: 60_000 });

/** A backend that answers with its own name and the request body it got. */
function named(name: string): Promise<Backend> {
  return startBackend((req: http.IncomingMessage, res: http.ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => res.end(Buffer.concat([Buffer.from(`${name}:`), ...chunks])));
  });
}

let tt: Thumbtack;
let a: Backend;
let b: Backend;
let exact: Backend;
let wildcard: Backend;
let longer: Backend;
let hostEcho: Backend;
let deadPort: number;

beforeAll(async () => {
  [a, b, exact, wildcard, longer] = await Promise.all(
    ['a', 'b', 'exact', 'wildcard', 'longer'].map(named),
  );
  hostEcho = await startBackend((req, res) => res.end(`host ${req.headers.host}`));
  deadPort = await freePort();
  tt = await startThumbtack({
    routes: [
      `*,id=pair,path_beg=/pair/,no_grip ${a.target} ${b.target}`,
      `*,id=failover,path_beg=/failover/,no_grip 127.0.0.1:${deadPort} ${a.target}`,
      `*,id=failover-host,path_beg=/fo-host/,no_grip 127.0.0.1:${deadPort},host=dead.example ${hostEcho.target},host=live.example`,
      `*,id=any,no_grip ${a.target}`,
      `*,id=api-longer,path_beg=/api/v2/,no_grip ${longer.target}`,
      `*,id=api,path_beg=/api/,no_grip ${b.target}`,
      `api.example.com,id=exact,no_grip ${exact.target}`,
      `*.example.com,id=wildcard,no_grip ${wildcard.target}`,
    ].join('\n'),
  });
});

afterAll(async () => {
  await stopAllThumbtacks();
  await stopAllBackends();
});

async function answer(path: string, options: Parameters<typeof send>[1] = {}): Promise<string> {
  const res = await send(tt.url + path, options);
  expect(res.status).toBe(200);
  return res.body.toString();
}

test('a route with two targets spreads requests over both in turn', async () => {
  const answers: string[] = [];
  for (let i = 0; i < 6; i++) answers.push(await answer(`/pair/${i}`));
  expect(answers.filter((x) => x === 'a:')).toHaveLength(3);
  expect(answers.filter((x) => x === 'b:')).toHaveLength(3);
  for (let i = 1; i < answers.length; i++) expect(answers[i]).not.toBe(answers[i - 1]);
});

test('a target refusing connections is skipped for the next, with a log line naming it', async () => {
  for (let i = 0; i < 4; i++) expect(await answer(`/failover/${i}`)).toBe('a:');
  const line = await tt.waitForLog((l) => l.level === 'warn' && l.route === 'failover');
  expect(line.target).toBe(`127.0.0.1:${deadPort}`);
  const access = tt.logs.filter((l) => l.msg === 'request' && l.route === 'failover');
  expect(access.every((l) => l.status === 200 && l.target === a.target)).toBe(true);
});

test("failing over to a target with its own host= sends that target's Host", async () => {
  // Round-robin: one of the two requests starts at the dead target and fails over.
  for (let i = 0; i < 2; i++) expect(await answer(`/fo-host/${i}`)).toBe('host live.example');
});

test('a request body is sent again to the next target on failover', async () => {
  // Two requests: round-robin makes one of them try the dead target first.
  for (let i = 0; i < 2; i++) {
    expect(await answer(`/failover/body-${i}`, { method: 'POST', body: `payload ${i}` })).toBe(
      `a:payload ${i}`,
    );
  }
});

test.each([
  ['Content-Length', true],
  ['chunked', false],
])(
  'a large %s request body reaches the next target whole on failover',
  async (_framing, withLength) => {
    // Larger than the 100,000 bytes kept for GRIP retries: failover must not depend on that copy.
    const body = Buffer.alloc(1024 * 1024);
    for (let i = 0; i < body.length; i++) body[i] = (i * 7) % 251;
    for (let i = 0; i < 2; i++) {
      const res = await send(tt.url + `/failover/large-${i}`, {
        method: 'POST',
        headers: withLength ? { 'content-length': String(body.length) } : {},
        body: Readable.from([body.subarray(0, 300_000), body.subarray(300_000)]),
      });
      expect(res.status).toBe(200);
      const answer = res.body.toString('latin1');
      expect(answer.length).toBe(2 + body.length);
      expect(answer.slice(2) === body.toString('latin1')).toBe(true);
    }
  },
);

test('an exact host beats a wildcard host, which beats *', async () => {
  expect(await answer('/', { headers: { host: 'api.example.com' } })).toBe('exact:');
  expect(await answer('/', { headers: { host: 'API.Example.com:8080' } })).toBe('exact:');
  expect(await answer('/', { headers: { host: 'www.example.com' } })).toBe('wildcard:');
  expect(await answer('/', { headers: { host: 'example.org' } })).toBe('a:');
});

test('among matching routes the longer path_beg wins', async () => {
  expect(await answer('/api/v2/items')).toBe('longer:');
  expect(await answer('/api/v1/items')).toBe('b:');
  expect(await answer('/apiary')).toBe('a:');
});
