import { request } from 'undici';
import { describe, expect, it } from 'vitest';
import { send } from '../support/client.js';
import { freePort } from '../support/free-port.js';
import {
  answer,
  publish,
  publishOk,
  readBody,
  streamItem,
  uniqueName,
  verifyGripSigHeader,
} from '../support/grip.js';
import { useGripSuite } from '../support/grip-suite.js';
import { startThumbtack } from '../support/thumbtack.js';
import {
  isChannelEvent,
  waitForSubscribed,
  waitForUnsubscribed,
} from '../support/channel-events.js';

/*
 * Long-poll (`Grip-Hold: response`) end to end: a real backend answers with GRIP headers,
 * thumbtack holds the client, and a publish through the control API answers it.
 */

const suite = useGripSuite({
  routes: (target) => `* ${target}\n`,
  // Debug logs include the handler's bus (un)subscribe lines: proof that a hold is in place.
  args: ['--log-level', 'debug'],
});

/** Registers a path that answers with a response hold on `channel` plus extra headers. */
function holdOn(
  channel: string,
  headers: Record<string, string | string[]> = {},
  body = 'timeout\n',
): string {
  const path = `/${uniqueName('hold')}`;
  suite.backend.on(
    path,
    answer(
      {
        'Content-Type': 'text/plain',
        'Grip-Hold': 'response',
        'Grip-Channel': channel,
        ...headers,
      },
      body,
    ),
  );
  return path;
}

/** Starts a long-poll and resolves once it is held on `channel`. */
async function longPoll(path: string, channel: string, init: Parameters<typeof send>[1] = {}) {
  const done = send(`${suite.thumbtack.url}${path}`, init);
  done.catch(() => undefined); // awaited by the test; this only keeps an early failure handled
  await Promise.race([waitForSubscribed(suite.thumbtack, channel), done]);
  return { done };
}

function responseItem(
  channel: string,
  format: Record<string, unknown>,
  extra: Record<string, unknown> = {},
) {
  return { channel, formats: { 'http-response': format }, ...extra };
}

describe('response hold', () => {
  it('answers with the published code, reason, headers and body', async () => {
    const channel = uniqueName('rh');
    const poll = await longPoll(holdOn(channel), channel);
    await publishOk(
      suite.thumbtack,
      responseItem(channel, {
        code: 299,
        reason: 'Custom Reason',
        headers: { 'X-Pub': '1' },
        body: 'published body\n',
      }),
    );
    const res = await poll.done;
    expect(res.status).toBe(299);
    expect(res.reason).toBe('Custom Reason');
    expect(res.headers['x-pub']).toBe('1');
    expect(res.headers['content-length']).toBe(String('published body\n'.length));
    expect(res.body.toString()).toBe('published body\n');
  });

  it('merges headers: the stored ones stay unless the publish names them, Grip-* never reach the client', async () => {
    const channel = uniqueName('rh');
    const path = holdOn(channel, {
      'X-Timeout-Hdr': 'a',
      'X-Multi': ['stored-1', 'stored-2'],
      'X-Replaced': 'stored',
      'Grip-Timeout': '50',
      'Grip-Foo': 'bar',
    });
    const poll = await longPoll(path, channel);
    await publishOk(
      suite.thumbtack,
      responseItem(channel, {
        code: 201,
        headers: [
          ['X-Multi', 'pub-1'],
          ['x-multi', 'pub-2'],
          ['x-replaced', 'published'],
          ['Content-Type', 'application/json'],
          ['Grip-Hold', 'stream'],
          ['Grip-Bar', 'x'],
        ],
        body: '{}',
      }),
    );
    const res = await poll.done;
    expect(res.status).toBe(201);
    expect(res.reason).toBe('Created');
    expect(res.headers['x-timeout-hdr']).toBe('a');
    expect(res.headers['content-type']).toBe('application/json');
    expect(res.headers['x-replaced']).toBe('published');
    // A publish header replaces every stored header of that name, whatever its case.
    const multi = res.rawHeaders.filter(
      (_v, i) => i % 2 === 1 && /^x-multi$/i.test(res.rawHeaders[i - 1]!),
    );
    expect(multi).toEqual(['pub-1', 'pub-2']);
    const names = res.rawHeaders.filter((_v, i) => i % 2 === 0).map((n) => n.toLowerCase());
    expect(names.filter((n) => n.startsWith('grip-'))).toEqual([]);
    expect(res.body.toString()).toBe('{}');
  });

  it('delivers body-bin as bytes and an empty body as Content-Length 0', async () => {
    const channelA = uniqueName('rh');
    const channelB = uniqueName('rh');
    const a = await longPoll(holdOn(channelA), channelA);
    const b = await longPoll(holdOn(channelB), channelB);
    await publishOk(
      suite.thumbtack,
      responseItem(channelA, { 'body-bin': Buffer.from([0, 1, 2, 255]).toString('base64') }),
      responseItem(channelB, { code: 204, body: '' }),
    );
    const [resA, resB] = await Promise.all([a.done, b.done]);
    expect(resA.status).toBe(200);
    expect(resA.body).toEqual(Buffer.from([0, 1, 2, 255]));
    expect(resB.status).toBe(204);
    expect(resB.body.length).toBe(0);
  });

  it('ignores http-stream and ws-message items and close actions, then answers the next http-response', async () => {
    const channel = uniqueName('rh');
    const poll = await longPoll(holdOn(channel), channel);
    await publishOk(
      suite.thumbtack,
      streamItem(channel, 'stream data'),
      { channel, formats: { 'ws-message': { content: 'ws data' } } },
      { channel, formats: { 'http-response': { action: 'close' } } },
    );
    // Published after the ignored ones: had any of them answered, the client would show it.
    await publishOk(suite.thumbtack, responseItem(channel, { body: 'the answer\n' }));
    const res = await poll.done;
    expect(res.body.toString()).toBe('the answer\n');
  });

  it('answers a hold on several channels from whichever is published', async () => {
    const [a, b, c] = [uniqueName('rh'), uniqueName('rh'), uniqueName('rh')];
    const poll = await longPoll(holdOn(`${a}, ${b}, ${c}`), c);
    await publishOk(suite.thumbtack, responseItem(c, { body: 'from c\n' }));
    expect((await poll.done).body.toString()).toBe('from c\n');
  });

  it('Grip-Status sets the status of the stored response; a publish sets its own', async () => {
    const channel = uniqueName('rh');
    const path = holdOn(channel, { 'Grip-Status': '404 Nope' });
    const poll = await longPoll(path, channel);
    await publishOk(suite.thumbtack, responseItem(channel, { body: 'found\n' }));
    const res = await poll.done;
    expect(res.status).toBe(200);
    expect(res.reason).toBe('OK');
    expect(res.body.toString()).toBe('found\n');
  });

  it('times out (Grip-Timeout clamped to 5 s) with the stored response, Grip-Status applied', async () => {
    const channel = uniqueName('rh');
    const path = holdOn(
      channel,
      { 'Grip-Status': '404 Nope', 'Grip-Timeout': '1', 'X-Stored': 'yes' },
      'nothing yet\n',
    );
    const started = Date.now();
    const res = await (await longPoll(path, channel, { timeoutMs: 10_000 })).done;
    const elapsed = Date.now() - started;
    expect(elapsed).toBeGreaterThanOrEqual(4_900);
    expect(elapsed).toBeLessThan(8_000);
    expect(res.status).toBe(404);
    expect(res.reason).toBe('Nope');
    expect(res.headers['x-stored']).toBe('yes');
    expect(res.headers['content-type']).toBe('text/plain');
    expect(res.headers['content-length']).toBe(String('nothing yet\n'.length));
    expect(Object.keys(res.headers).filter((n) => n.startsWith('grip-'))).toEqual([]);
    expect(res.body.toString()).toBe('nothing yet\n');
  });

  it('a hint re-sends the original request (method, headers, body, fresh Grip-Sig) and relays the new answer', async () => {
    const channel = uniqueName('rh');
    const path = `/${uniqueName('hint')}`;
    const bodies: string[] = [];
    suite.backend.on(path, (req, res) => {
      void readBody(req).then((body) => {
        bodies.push(body.toString());
        if (bodies.length === 1) {
          res.writeHead(200, { 'Grip-Hold': 'response', 'Grip-Channel': channel });
          res.end('timeout\n');
        } else {
          res.writeHead(200, { 'Content-Type': 'text/plain', 'X-Second': 'yes' });
          res.end('fresh data\n');
        }
      });
    });
    const poll = await longPoll(`${path}?q=1`, channel, {
      method: 'POST',
      headers: { 'content-type': 'text/plain', 'x-client': 'c1' },
      body: 'request body',
    });
    await publishOk(suite.thumbtack, responseItem(channel, { action: 'hint' }));
    const res = await poll.done;
    expect(res.status).toBe(200);
    expect(res.headers['x-second']).toBe('yes');
    expect(res.body.toString()).toBe('fresh data\n');
    const [first, second] = suite.backend.requestsTo(path);
    expect(second!.method).toBe('POST');
    expect(second!.url).toBe(`${path}?q=1`);
    expect(second!.headers['x-client']).toBe('c1');
    await expect(verifyGripSigHeader(second!.headers['grip-sig'])).resolves.toMatchObject({
      iss: 'pushpin',
    });
    expect(second!.headers['grip-last']).toBeUndefined();
    await expect(verifyGripSigHeader(first!.headers['grip-sig'])).resolves.toMatchObject({
      iss: 'pushpin',
    });
    expect(first!.headers['grip-feature']).toBe(
      'status, link:next, link:gone, filter:skip-self, filter:skip-users, filter:require-sub, filter:build-id, filter:var-subst',
    );
    expect(bodies).toEqual(['request body', 'request body']);
  });

  it('a retry sends the Host of the target it goes to (route targets with their own host=)', async () => {
    const deadPort = await freePort();
    const routed = await startThumbtack({
      routes: `* 127.0.0.1:${deadPort},host=dead.example ${suite.backend.target},host=live.example\n`,
      args: ['--log-level', 'debug'],
    });
    const channel = uniqueName('rh');
    const path = `/${uniqueName('retry-host')}`;
    let answered = 0;
    suite.backend.on(path, (_req, res) => {
      if (++answered === 1) {
        res.writeHead(200, { 'Grip-Hold': 'response', 'Grip-Channel': channel });
        res.end('timeout\n');
      } else res.end('retried\n');
    });
    const done = send(`${routed.url}${path}`);
    await waitForSubscribed(routed, channel);
    await publishOk(routed, responseItem(channel, { action: 'hint' }));
    expect((await done).body.toString()).toBe('retried\n');
    expect(suite.backend.requestsTo(path).map((r) => r.headers['host'])).toEqual([
      'live.example',
      'live.example',
    ]);
  });

  it('an item that does not follow the prev-id, and a hint, retry with Grip-Last; a following item is delivered', async () => {
    const channel = uniqueName('rh');
    const path = `/${uniqueName('prev')}`;
    const holdFrom = (prevId: string) => ({
      'Grip-Hold': 'response',
      'Grip-Channel': `${channel}; prev-id=${prevId}`,
    });
    let calls = 0;
    suite.backend.on(path, (_req, res) => {
      calls++;
      // First held from id 1; every retry is held again, from id 3.
      res.writeHead(200, holdFrom(calls === 1 ? '1' : '3'));
      res.end('timeout\n');
    });
    const poll = await longPoll(path, channel);
    // id 3 follows 2, which this hold never saw: the backend must be asked again.
    await publishOk(
      suite.thumbtack,
      responseItem(channel, { body: 'three\n' }, { id: '3', 'prev-id': '2' }),
    );
    const [, retry] = await suite.backend.waitForRequests(path, 2);
    expect(retry!.headers['grip-last']).toBe(`${channel}; last-id=1`);
    await publishOk(suite.thumbtack, responseItem(channel, { action: 'hint' }));
    const [, , hinted] = await suite.backend.waitForRequests(path, 3);
    expect(hinted!.headers['grip-last']).toBe(`${channel}; last-id=3`);
    await publishOk(
      suite.thumbtack,
      responseItem(channel, { body: 'four\n' }, { id: '4', 'prev-id': '3' }),
    );
    const res = await poll.done;
    expect(res.body.toString()).toBe('four\n');
    expect(calls).toBe(3);
  });

  it('an item without prev-id on a prev-id hold causes a retry, not a delivery', async () => {
    const channel = uniqueName('rh');
    const path = `/${uniqueName('noprev')}`;
    let calls = 0;
    suite.backend.on(path, (_req, res) => {
      calls++;
      if (calls === 1) {
        res.writeHead(200, { 'Grip-Hold': 'response', 'Grip-Channel': `${channel}; prev-id=a` });
        res.end('timeout\n');
      } else {
        res.end('caught up\n');
      }
    });
    const poll = await longPoll(path, channel);
    await publishOk(suite.thumbtack, responseItem(channel, { body: 'not for you\n' }, { id: 'b' }));
    const res = await poll.done;
    expect(res.body.toString()).toBe('caught up\n');
    expect(suite.backend.requestsTo(path)[1]!.headers['grip-last']).toBe(`${channel}; last-id=a`);
  });

  it('skip-self drops the subscriber own item; var-subst fills the body from Grip-Set-Meta', async () => {
    const channel = uniqueName('rh');
    const path = holdOn(channel, {
      'Grip-Channel': `${channel}; filter=skip-self; filter=var-subst`,
      'Grip-Set-Meta': 'user="alice", nick="Al"',
    });
    const poll = await longPoll(path, channel);
    await publishOk(
      suite.thumbtack,
      responseItem(channel, { body: 'own\n' }, { meta: { sender: 'alice' } }),
    );
    // Not a delivery filter match: an unknown variable is a filter error, also dropped.
    await publishOk(
      suite.thumbtack,
      responseItem(channel, { body: '%(nope)s\n' }, { meta: { sender: 'bob' } }),
    );
    await publishOk(
      suite.thumbtack,
      responseItem(channel, { body: 'from bob to %(nick)s 100%%\n' }, { meta: { sender: 'bob' } }),
    );
    const res = await poll.done;
    expect(res.body.toString()).toBe('from bob to Al 100%\n');
  });

  it('content-filters that differ from the channel filters skip the hold', async () => {
    const channel = uniqueName('rh');
    const poll = await longPoll(
      holdOn(channel, { 'Grip-Channel': `${channel}; filter=var-subst` }),
      channel,
    );
    await publishOk(
      suite.thumbtack,
      responseItem(channel, { body: 'wrong\n', 'content-filters': [] }),
      responseItem(channel, { body: 'right\n', 'content-filters': ['var-subst'] }),
    );
    expect((await poll.done).body.toString()).toBe('right\n');
  });

  it("a long-poll's channels stay subscribed for --subscription-linger after it leaves, serve the next poll, then go", async () => {
    const own = await startThumbtack({
      routes: `* ${suite.backend.target}\n`,
      args: ['--log-level', 'debug', '--subscription-linger', '1'],
    });
    const [a, b] = [uniqueName('rh'), uniqueName('rh')];
    const controller = new AbortController();
    const leaving = request(`${own.url}${holdOn(`${a}, ${b}`)}`, {
      signal: controller.signal,
    }).catch((err: Error) => err);
    await Promise.all([waitForSubscribed(own, a), waitForSubscribed(own, b)]);
    controller.abort();
    expect(await leaving).toBeInstanceOf(Error);
    const leftAt = Date.now();
    // The next long-poll on a, within the linger: no new subscription, and it is answered.
    const seen = own.logs.length;
    const nextPath = `/${uniqueName('hold')}`;
    const reply = answer({ 'Grip-Hold': 'response', 'Grip-Channel': a }, 'timeout\n');
    const asked = new Promise<void>((resolve) => {
      suite.backend.on(nextPath, (req, res) => {
        resolve();
        return reply(req, res);
      });
    });
    const next = send(`${own.url}${nextPath}`);
    // Published once the request reached the backend, so it is for this poll.
    await asked;
    await publishOk(own, responseItem(a, { body: 'still subscribed\n' }));
    expect((await next).body.toString()).toBe('still subscribed\n');
    expect(own.logs.slice(seen).some(isChannelEvent('channel.subscribed', a))).toBe(false);
    // Both go once the linger (1 s, swept each second) has passed since their last poll left.
    const [goneA, goneB] = await Promise.all([
      waitForUnsubscribed(own, a, { timeoutMs: 5_000 }),
      waitForUnsubscribed(own, b, { timeoutMs: 5_000 }),
    ]);
    expect(Number(goneB.time) - leftAt).toBeGreaterThanOrEqual(900);
    expect(Number(goneA.time)).toBeGreaterThanOrEqual(Number(goneB.time) - 1_100);
    await own.stop();
  });

  it('with --subscription-linger 0 a client that leaves is unsubscribed from its channels at once', async () => {
    const own = await startThumbtack({
      routes: `* ${suite.backend.target}\n`,
      args: ['--log-level', 'debug', '--subscription-linger', '0'],
    });
    const [a, b] = [uniqueName('rh'), uniqueName('rh')];
    const controller = new AbortController();
    const leaving = request(`${own.url}${holdOn(`${a}, ${b}`)}`, {
      signal: controller.signal,
    }).catch((err: Error) => err);
    await Promise.all([waitForSubscribed(own, a), waitForSubscribed(own, b)]);
    controller.abort();
    expect(await leaving).toBeInstanceOf(Error);
    const leftAt = Date.now();
    const [goneA, goneB] = await Promise.all([
      waitForUnsubscribed(own, a, { timeoutMs: 2_000 }),
      waitForUnsubscribed(own, b, { timeoutMs: 2_000 }),
    ]);
    expect(Number(goneA.time) - leftAt).toBeLessThan(900);
    expect(Number(goneB.time) - leftAt).toBeLessThan(900);
    // The channel still works for the next long-poll, once it is subscribed anew.
    const seen = own.logs.length;
    const done = send(`${own.url}${holdOn(a)}`);
    await waitForSubscribed(own, a, { since: seen });
    await publishOk(own, responseItem(a, { body: 'still works\n' }));
    expect((await done).body.toString()).toBe('still works\n');
    await own.stop();
  });

  it('body-patch patches the held JSON body, for each connection its own', async () => {
    const channel = uniqueName('rh');
    const json = { 'Content-Type': 'application/json' };
    const a = await longPoll(holdOn(channel, json, '{"user":"a","unread":0}\n'), channel);
    // The channel is subscribed already: b is covered once its request reached the backend
    // (a publish after that is replayed to it).
    const bPath = `/${uniqueName('hold')}`;
    const bAsked = new Promise<void>((resolve) => {
      const reply = answer(
        { ...json, 'Grip-Hold': 'response', 'Grip-Channel': channel },
        '{"user":"b","unread":5}\n',
      );
      suite.backend.on(bPath, (req, res) => {
        resolve();
        return reply(req, res);
      });
    });
    const b = { done: send(`${suite.thumbtack.url}${bPath}`) };
    await bAsked;
    await publishOk(
      suite.thumbtack,
      responseItem(channel, {
        headers: { 'X-Patched': '1' },
        'body-patch': [
          { op: 'replace', path: '/unread', value: 6 },
          { op: 'add', path: '/last', value: 'hi' },
        ],
      }),
    );
    const [resA, resB] = await Promise.all([a.done, b.done]);
    expect(resA.status).toBe(200);
    expect(resA.headers['content-type']).toBe('application/json');
    expect(resA.headers['x-patched']).toBe('1');
    expect(resA.body.toString()).toBe('{"user":"a","unread":6,"last":"hi"}\n');
    expect(resB.body.toString()).toBe('{"user":"b","unread":6,"last":"hi"}\n');
  });

  it('a body-patch that does not apply leaves the connection held, logged and counted as a drop', async () => {
    const channel = uniqueName('rh');
    const poll = await longPoll(holdOn(channel, {}, '{"n":1}\n'), channel);
    await publishOk(
      suite.thumbtack,
      responseItem(channel, { 'body-patch': [{ op: 'test', path: '/n', value: 2 }] }),
    );
    const line = await suite.thumbtack.waitForLog(
      (l) => l.msg === 'body-patch item not delivered to a held response' && l.channel === channel,
    );
    expect(line.level).toBe('warn');
    expect(line.err).toBe('the body-patch does not apply: Test operation failed (operation 0)');
    await publishOk(
      suite.thumbtack,
      responseItem(channel, { 'body-patch': [{ op: 'test', path: '/n', value: 1 }] }),
    );
    expect((await poll.done).body.toString()).toBe('{"n":1}\n');
    // Workers report their counts once a second.
    const deadline = Date.now() + 10_000;
    let drops: Record<string, number> = {};
    while (drops['body_patch'] !== 1 && Date.now() < deadline) {
      const res = await request(`${suite.thumbtack.controlUrl}/status.json`);
      drops = ((await res.body.json()) as { drops: Record<string, number> }).drops;
      if (drops['body_patch'] !== 1) await new Promise((r) => setTimeout(r, 100));
    }
    expect(drops['body_patch']).toBe(1);
  });

  it('a body-patch with an operation that is not RFC 6902 is refused with 400, naming it', async () => {
    const result = await publish(suite.thumbtack, [
      responseItem(uniqueName('rh'), { 'body-patch': [{ op: 'merge', path: '/a', value: 1 }] }),
    ]);
    expect(result.status).toBe(400);
    expect(result.text).toBe(
      "Invalid format: 'http-response' contains 'body-patch' with an invalid operation: Operation `op` property is not one of operations defined in RFC-6902 (operation 0)\n",
    );
  });

  it('a publish with nobody listening is accepted and goes nowhere', async () => {
    const result = await publish(suite.thumbtack, [
      responseItem(uniqueName('nobody'), { body: 'x' }),
    ]);
    expect(result).toEqual({ status: 200, text: 'Published\n' });
  });
});

describe('response hold on drain', () => {
  it('SIGTERM answers a held long-poll with 503 and Retry-After, not its stored response', async () => {
    const own = await startThumbtack({
      routes: `* ${suite.backend.target}\n`,
      args: ['--log-level', 'debug'],
    });
    const channel = uniqueName('drain');
    const path = holdOn(
      channel,
      { 'Grip-Status': '503 Draining', 'X-Stored': 'yes' },
      'come back later\n',
    );
    const done = send(`${own.url}${path}`);
    await waitForSubscribed(own, channel);
    const started = Date.now();
    const stopped = own.stop();
    const res = await done;
    // The only held client: its hint is the first of the drain window, so at once.
    expect(Date.now() - started).toBeLessThan(3_000);
    expect(res.status).toBe(503);
    expect(res.reason).toBe('Service Unavailable');
    expect(Number(res.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    expect(res.headers['x-stored']).toBeUndefined();
    expect(res.body.toString()).toBe('Service restarting: retry\n');
    expect(await stopped).toBe(0);
  });

  it('a request still at the backend when SIGTERM arrives is answered (a hold: with the drain hint), not held to the drain timeout', async () => {
    const own = await startThumbtack({
      routes: `* ${suite.backend.target}\n`,
      args: ['--drain-timeout', '20'],
    });
    const path = `/${uniqueName('late-hold')}`;
    let release: () => void = () => undefined;
    const backendAnswered = new Promise<void>((resolve) => (release = resolve));
    suite.backend.on(path, (_req, res) => {
      backendAnswered.then(() =>
        answer({ 'Grip-Hold': 'response', 'Grip-Channel': uniqueName('late') }, 'stored\n')(
          _req,
          res,
        ),
      );
    });
    const done = send(`${own.url}${path}`);
    await suite.backend.waitForRequests(path, 1);
    const stopped = own.stop();
    await own.waitForLog((l) => l.msg === 'draining');
    const started = Date.now();
    release();
    const res = await done;
    expect(Date.now() - started).toBeLessThan(3_000);
    expect(res.status).toBe(503);
    expect(res.headers['retry-after']).toBeDefined();
    expect(await stopped).toBe(0);
  });
});
