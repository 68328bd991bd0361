import { afterAll, beforeAll, expect, test, vi } from 'vitest';
import { startBackend, stopAllBackends, type Backend } from '../support/backend.js';
import { send } from '../support/client.js';
import { freePort } from '../support/free-port.js';
import { publishOk } from '../support/grip.js';
import { startThumbtack, stopAllThumbtacks, type Thumbtack } from '../support/thumbtack.js';

// Real processes on a machine that may be busy: generous bounds, all still finite.
vi.setConfig({ testTimeout: 40_000, hookTimeout: 60_000 });

/*
 * Route `log_level=` (Pushpin's numbers: 0 error, 1 warning, 2 info, 3 debug) sets the level
 * of the lines about that route's requests, above or below `--log-level` (info here). One
 * worker, so the lines of consecutive requests come out in order: a later line proves that
 * an earlier one was not written.
 */

let backend: Backend;
let tt: Thumbtack;
let deadPort: number;
/** Called when the backend gets the request for a channel: a publish after it reaches the hold. */
const asked = new Map<string, () => void>();

beforeAll(async () => {
  // Any request is held as a long-poll on the channel named by its last path segment.
  backend = await startBackend((req, res) => {
    const channel = req.url!.split('/').pop()!;
    asked.get(channel)?.();
    res.writeHead(200, { 'Grip-Hold': 'response', 'Grip-Channel': channel });
    res.end('timeout\n');
  });
  deadPort = await freePort();
  tt = await startThumbtack({
    routes: [
      `*,id=quiet,path_beg=/quiet/,no_grip,log_level=0 ${backend.target}`,
      `*,id=quiet-dead,path_beg=/quiet-dead/,log_level=0 127.0.0.1:${deadPort}`,
      `*,id=loud,path_beg=/loud/,log_level=3 ${backend.target}`,
      `*,id=plain,path_beg=/plain/ ${backend.target}`,
    ].join('\n'),
  });
});
afterAll(async () => {
  await stopAllThumbtacks();
  await stopAllBackends();
});

function lines(route: string, msg: string) {
  return tt.logs.filter((l) => l.msg === msg && l.route === route);
}

test('a route at log_level=0 writes errors only: no access line, but its 502 error line', async () => {
  expect((await send(`${tt.url}/quiet/x`)).status).toBe(200); // no_grip: passed through
  expect((await send(`${tt.url}/quiet-dead/x`)).status).toBe(502);
  const error = await tt.waitForLog((l) => l.level === 'error' && l.route === 'quiet-dead');
  expect(error.target).toBe(`127.0.0.1:${deadPort}`);
  // A later request's access line: the quiet ones would have come before it.
  expect((await send(`${tt.url}/no-route-after`)).status).toBe(502);
  await tt.waitForLog((l) => l.msg === 'request' && l.path === '/no-route-after');
  expect(lines('quiet', 'request')).toEqual([]);
  expect(lines('quiet-dead', 'request')).toEqual([]);
});

test('a route at log_level=3 writes its debug lines under --log-level info; other routes do not', async () => {
  const held = async (route: string) => {
    const channel = `${route}-${Date.now()}`;
    const isAsked = new Promise<void>((resolve) => asked.set(channel, resolve));
    const done = send(`${tt.url}/${route}/${channel}`);
    await isAsked;
    return { channel, done };
  };
  const plain = await held('plain');
  const loud = await held('loud');
  // Content filters the holds do not have: each hold skips the first item (a debug line).
  for (const { channel } of [plain, loud]) {
    await publishOk(
      tt,
      { channel, formats: { 'http-response': { body: 'no\n', 'content-filters': ['var-subst'] } } },
      { channel, formats: { 'http-response': { body: 'yes\n' } } },
    );
  }
  expect((await loud.done).body.toString()).toBe('yes\n');
  expect((await plain.done).body.toString()).toBe('yes\n');
  const skipped = await tt.waitForLog(
    (l) => l.msg === 'item not delivered to a held response' && l.route === 'loud',
  );
  expect(skipped.level).toBe('debug');
  await tt.waitForLog(
    (l) => l.msg === 'request' && l.route === 'plain' && String(l.path).includes(plain.channel),
  );
  expect(lines('plain', 'item not delivered to a held response')).toEqual([]);
});
