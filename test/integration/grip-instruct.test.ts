import zlib from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { send } from '../support/client.js';
import { answer, openStream, publishOk, streamItem, uniqueName } from '../support/grip.js';
import { useGripSuite } from '../support/grip-suite.js';
import { waitForSubscribed } from '../support/channel-events.js';

/*
 * The `application/grip-instruct` JSON path, and what a client, the log and everybody else
 * see when a backend sends instructions that cannot be followed.
 */

const suite = useGripSuite({
  routes: (target) => `*,path_beg=/debug/,debug ${target}\n* ${target}\n`,
  args: ['--log-level', 'debug'],
});

/** Registers a path answering 200 `application/grip-instruct` with this document. */
function instructOn(doc: unknown, extraHeaders: Record<string, string> = {}): string {
  const path = `/${uniqueName('instruct')}`;
  suite.backend.on(
    path,
    answer(
      {
        'Content-Type': 'application/grip-instruct',
        'X-Dropped': 'backend header',
        ...extraHeaders,
      },
      JSON.stringify(doc),
    ),
  );
  return path;
}

describe('application/grip-instruct', () => {
  it('a response hold: the JSON response is the stored one, and a publish merges with it', async () => {
    const channel = uniqueName('gi');
    const path = instructOn({
      hold: { mode: 'response', channels: [{ name: channel }], timeout: 50 },
      response: {
        code: 202,
        headers: { 'X-I': '1', 'X-Over': 'stored' },
        body: 'instruct timeout\n',
      },
    });
    const done = send(`${suite.thumbtack.url}${path}`);
    await waitForSubscribed(suite.thumbtack, channel);
    await publishOk(suite.thumbtack, {
      channel,
      formats: { 'http-response': { headers: { 'X-Over': 'published' }, body: 'published\n' } },
    });
    const res = await done;
    expect(res.status).toBe(200);
    expect(res.headers['x-i']).toBe('1');
    expect(res.headers['x-over']).toBe('published');
    // The backend's own headers are discarded on the JSON path.
    expect(res.headers['x-dropped']).toBeUndefined();
    expect(res.headers['content-type']).toBeUndefined();
    expect(res.body.toString()).toBe('published\n');
  });

  it('a stream hold: status, headers and body come from the JSON response, keep-alive from JSON', async () => {
    const channel = uniqueName('gi');
    const path = instructOn({
      hold: {
        mode: 'stream',
        channels: [{ name: channel }],
        'keep-alive': { content: 'ka\n', timeout: 1 },
      },
      response: {
        code: 201,
        headers: [
          ['Content-Type', 'text/plain'],
          ['X-Pair', 'a'],
          ['X-Pair', 'b'],
        ],
        'body-bin': Buffer.from('from json\n').toString('base64'),
      },
    });
    const [stream] = await Promise.all([
      openStream(`${suite.thumbtack.url}${path}`),
      waitForSubscribed(suite.thumbtack, channel),
    ]);
    suite.streams.push(stream);
    expect(stream.status).toBe(201);
    expect(stream.headers['content-type']).toBe('text/plain');
    expect(stream.headers['x-pair']).toEqual(['a', 'b']);
    expect(stream.headers['x-dropped']).toBeUndefined();
    await publishOk(suite.thumbtack, streamItem(channel, 'pushed\n'));
    expect(await stream.waitForText('pushed\nka\n', 3_000)).toBe('from json\npushed\nka\n');
  });

  it('hold.meta and channel filters apply like Grip-Set-Meta and filter=', async () => {
    const channel = uniqueName('gi');
    const path = instructOn({
      hold: {
        mode: 'stream',
        channels: [{ name: channel, filters: ['skip-self', 'var-subst'] }],
        meta: { user: 'alice', nick: 'Al' },
      },
      response: { body: 'open\n' },
    });
    const [stream] = await Promise.all([
      openStream(`${suite.thumbtack.url}${path}`),
      waitForSubscribed(suite.thumbtack, channel),
    ]);
    suite.streams.push(stream);
    await publishOk(
      suite.thumbtack,
      streamItem(channel, 'mine\n', { meta: { sender: 'alice' } }),
      streamItem(channel, 'hi %(nick)s\n', { meta: { sender: 'bob' } }),
    );
    expect(await stream.waitForText('hi')).toBe('open\nhi Al\n');
  });

  it('Grip-* headers still apply, and a missing response means 200 with an empty body', async () => {
    const channel = uniqueName('gi');
    const path = instructOn({ hold: { channels: [{ name: channel }] } }, { 'Grip-Status': '203' });
    const done = send(`${suite.thumbtack.url}${path}`);
    await waitForSubscribed(suite.thumbtack, channel);
    // hold.mode defaults to response: only an http-response item answers it.
    await publishOk(suite.thumbtack, streamItem(channel, 'ignored'), {
      channel,
      formats: { 'http-response': { body: 'answered\n' } },
    });
    expect((await done).body.toString()).toBe('answered\n');
    const stream = await openStream(
      `${suite.thumbtack.url}${instructOn({}, { 'Grip-Status': '203' })}`,
    );
    expect(stream.status).toBe(203);
    expect(await stream.waitForEnd()).toBe('');
  });
});

describe('malformed instructions', () => {
  const cases: [string, Record<string, string>, string, string, string][] = [
    [
      'a bad Grip-Hold',
      { 'Grip-Hold': 'bogus', 'Grip-Channel': 'c' },
      '',
      'Grip-Hold',
      "Grip-Hold must be set to either 'response' or 'stream'",
    ],
    [
      'a non-integer Grip-Timeout',
      { 'Grip-Hold': 'response', 'Grip-Channel': 'c', 'Grip-Timeout': 'soon' },
      '',
      'Grip-Timeout',
      'failed to parse Grip-Timeout',
    ],
    [
      'a bad Grip-Status',
      { 'Grip-Status': 'abc' },
      '',
      'Grip-Status',
      'Grip-Status contains invalid status code',
    ],
    [
      'a Grip-Link without <>',
      { 'Grip-Hold': 'stream', 'Grip-Channel': 'c', 'Grip-Link': '/next; rel=next' },
      '',
      'Grip-Link',
      'failed to parse Grip-Link value',
    ],
    [
      'an unknown Grip-Keep-Alive format',
      { 'Grip-Hold': 'stream', 'Grip-Channel': 'c', 'Grip-Keep-Alive': 'x; format=hex' },
      '',
      'Grip-Keep-Alive',
      "no such Grip-Keep-Alive format 'hex'",
    ],
    [
      'six filters on a channel',
      {
        'Grip-Hold': 'stream',
        'Grip-Channel': 'c; filter=a; filter=b; filter=c; filter=d; filter=e; filter=f',
      },
      '',
      'Grip-Channel',
      "too many filters for channel 'c'",
    ],
    [
      'grip-instruct that is not JSON',
      { 'Content-Type': 'application/grip-instruct' },
      '{nope',
      'application/grip-instruct body',
      'failed to parse application/grip-instruct content as JSON',
    ],
    [
      'grip-instruct without channels',
      { 'Content-Type': 'application/grip-instruct' },
      '{"hold":{"mode":"stream"}}',
      'application/grip-instruct body',
      "hold does not contain 'channels'",
    ],
  ];

  it.each(cases)(
    '%s: 502 with a short body; the log names the header and the problem',
    async (_name, headers, body, header, problem) => {
      const path = `/${uniqueName('bad')}`;
      suite.backend.on(path, answer(headers, body));
      const res = await send(`${suite.thumbtack.url}${path}`);
      expect(res.status).toBe(502);
      expect(res.headers['content-type']).toBe('text/plain');
      expect(res.body.toString()).toBe('Error while proxying to origin.\n');
      const line = await suite.thumbtack.waitForLog(
        (l) => l.msg === 'backend sent invalid GRIP instructions' && l['path'] === path,
      );
      expect(line.level).toBe('warn');
      expect(line['header']).toBe(header);
      expect(line['err']).toBe(problem);
    },
  );

  it('grip-instruct with a non-200 status is refused', async () => {
    const path = `/${uniqueName('bad')}`;
    suite.backend.on(path, answer({ 'Content-Type': 'application/grip-instruct' }, '{}', 404));
    const res = await send(`${suite.thumbtack.url}${path}`);
    expect(res.status).toBe(502);
    const line = await suite.thumbtack.waitForLog(
      (l) => l.msg === 'backend sent invalid GRIP instructions' && l['path'] === path,
    );
    expect(line['err']).toBe('response code for application/grip-instruct content must be 200');
  });

  it('a debug route explains the problem in the body', async () => {
    const path = `/debug/${uniqueName('bad')}`;
    suite.backend.on(path, answer({ 'Grip-Hold': 'bogus' }));
    const res = await send(`${suite.thumbtack.url}${path}`);
    expect(res.status).toBe(502);
    expect(res.body.toString()).toBe(
      "Failed to parse accept instructions: Grip-Hold must be set to either 'response' or 'stream'\n",
    );
  });

  it('other clients are unaffected: a held stream keeps receiving, plain requests keep working', async () => {
    const channel = uniqueName('gi');
    const streamPath = `/${uniqueName('ok')}`;
    suite.backend.on(
      streamPath,
      answer({ 'Grip-Hold': 'stream', 'Grip-Channel': channel }, 'open\n'),
    );
    const plainPath = `/${uniqueName('plain')}`;
    suite.backend.on(plainPath, answer({ 'Content-Type': 'text/plain' }, 'plain\n'));
    const badPath = `/${uniqueName('bad')}`;
    suite.backend.on(badPath, answer({ 'Grip-Hold': 'stream', 'Grip-Timeout': '-1x' }));
    const [stream] = await Promise.all([
      openStream(`${suite.thumbtack.url}${streamPath}`),
      waitForSubscribed(suite.thumbtack, channel),
    ]);
    suite.streams.push(stream);
    const bad = await Promise.all(
      Array.from({ length: 10 }, () => send(`${suite.thumbtack.url}${badPath}`)),
    );
    expect(bad.map((r) => r.status)).toEqual(Array(10).fill(502));
    const plain = await send(`${suite.thumbtack.url}${plainPath}`);
    expect(plain.body.toString()).toBe('plain\n');
    await publishOk(suite.thumbtack, streamItem(channel, 'still here\n'));
    expect(await stream.waitForText('still here\n')).toBe('open\nstill here\n');
  });
});

describe('compressed GRIP answers (the client asked for compression)', () => {
  const acceptEncoding = { 'accept-encoding': 'gzip, deflate, br' };

  it('a gzip stream hold reaches the client decoded, with the published items after it', async () => {
    const channel = uniqueName('gz');
    const path = `/${uniqueName('gz')}`;
    let askedFor: string | undefined;
    suite.backend.on(path, (req, res) => {
      askedFor = req.headers['accept-encoding'];
      res.writeHead(200, {
        'Content-Type': 'text/event-stream',
        'Content-Encoding': 'gzip',
        'Grip-Hold': 'stream',
        'Grip-Channel': channel,
      });
      res.end(zlib.gzipSync('event: open\n\n'));
    });
    const [stream] = await Promise.all([
      openStream(`${suite.thumbtack.url}${path}`, { headers: acceptEncoding }),
      waitForSubscribed(suite.thumbtack, channel),
    ]);
    suite.streams.push(stream);
    expect(askedFor).toBe('gzip, deflate, br');
    expect(stream.headers['content-encoding']).toBeUndefined();
    await publishOk(suite.thumbtack, streamItem(channel, 'data: one\n\n'));
    expect(await stream.waitForText('data: one\n\n')).toBe('event: open\n\ndata: one\n\n');
  });

  it('a brotli application/grip-instruct document is decoded before it is read', async () => {
    const channel = uniqueName('br');
    const path = `/${uniqueName('br')}`;
    const doc = {
      hold: { mode: 'stream', channels: [{ name: channel }] },
      response: { body: 'instructed\n' },
    };
    suite.backend.on(path, (_req, res) => {
      res.writeHead(200, { 'Content-Type': 'application/grip-instruct', 'Content-Encoding': 'br' });
      res.end(zlib.brotliCompressSync(JSON.stringify(doc)));
    });
    const [stream] = await Promise.all([
      openStream(`${suite.thumbtack.url}${path}`, { headers: acceptEncoding }),
      waitForSubscribed(suite.thumbtack, channel),
    ]);
    suite.streams.push(stream);
    await publishOk(suite.thumbtack, streamItem(channel, 'next\n'));
    expect(await stream.waitForText('next\n')).toBe('instructed\nnext\n');
  });

  it.each([
    ['an unsupported coding', 'zstd', Buffer.from('x'), 'Content-Encoding zstd is not supported'],
    ['a corrupt body', 'gzip', Buffer.from('not gzip'), 'Content-Encoding gzip: body is corrupt'],
    [
      'a decompression bomb',
      'gzip',
      zlib.gzipSync(Buffer.alloc(1_000_000)),
      'Content-Encoding gzip: body decodes to more than 100000 bytes',
    ],
  ])('%s: 502, and the log names Content-Encoding', async (_name, coding, body, problem) => {
    const path = `/${uniqueName('enc')}`;
    suite.backend.on(path, (_req, res) => {
      res.writeHead(200, {
        'Content-Encoding': coding,
        'Grip-Hold': 'stream',
        'Grip-Channel': 'x',
      });
      res.end(body);
    });
    const res = await send(`${suite.thumbtack.url}${path}`, { headers: acceptEncoding });
    expect(res.status).toBe(502);
    const line = await suite.thumbtack.waitForLog(
      (l) => l.msg === 'backend sent invalid GRIP instructions' && l['path'] === path,
    );
    expect(line['header']).toBe('Content-Encoding');
    expect(line['err']).toContain(problem);
  });

  it('a plain answer keeps its compression', async () => {
    const path = `/${uniqueName('plain-gz')}`;
    suite.backend.on(path, (_req, res) => {
      res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Encoding': 'gzip' });
      res.end(zlib.gzipSync('compressed\n'));
    });
    const res = await send(`${suite.thumbtack.url}${path}`, { headers: acceptEncoding });
    expect(res.headers['content-encoding']).toBe('gzip');
    expect(zlib.gunzipSync(res.body).toString()).toBe('compressed\n');
  });
});
