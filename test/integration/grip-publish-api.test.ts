import { Publisher } from '@fanoutio/grip';
import { fetch as undiciFetch, request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stopAllBackends } from '../support/backend.js';
import { send } from '../support/client.js';
import {
  answer,
  openStream,
  postPublish,
  publish,
  publishOk,
  startPathBackend,
  streamItem,
  uniqueName,
  type PathBackend,
  type StreamClient,
} from '../support/grip.js';
import { startThumbtack, stopAllThumbtacks, type Thumbtack } from '../support/thumbtack.js';
import { waitForSubscribed } from '../support/channel-events.js';

/*
 * The control API as a publisher meets it through the runner: bad input is refused with
 * a 4xx naming the problem and disturbs nothing already held; a batch is all or nothing;
 * and with auth configured, a publish without valid credentials gets 401.
 */

const publisherOptions = { fetch: undiciFetch as unknown as typeof fetch };
const bodyMax = 4_000;
const controlToken = 'control-token-for-tests';
const jwtKey = 'jwt-key-for-tests';

let backend: PathBackend;
const streams: StreamClient[] = [];

beforeAll(async () => {
  backend = await startPathBackend();
  backend.on('/stream', (req, res) => {
    const channel = new URL(req.url!, 'http://x').searchParams.get('channel')!;
    answer({ 'Grip-Hold': 'stream', 'Grip-Channel': channel }, 'open\n')(req, res);
  });
  backend.on('/poll', (req, res) => {
    const channel = new URL(req.url!, 'http://x').searchParams.get('channel')!;
    answer({ 'Grip-Hold': 'response', 'Grip-Channel': channel }, 'timeout\n')(req, res);
  });
});
afterAll(async () => {
  for (const stream of streams) stream.close();
  await stopAllThumbtacks();
  await stopAllBackends();
});

/** A long-poll and a stream, both held on `channel`. */
async function holdBoth(instance: Thumbtack, channel: string) {
  const poll = send(`${instance.url}/poll?channel=${channel}`);
  let isAnswered = false;
  void poll.then(
    () => (isAnswered = true),
    () => undefined,
  );
  const [stream] = await Promise.all([
    openStream(`${instance.url}/stream?channel=${channel}`),
    waitForSubscribed(instance, channel),
  ]);
  streams.push(stream);
  await stream.waitForText('open\n');
  return { poll, stream, isAnswered: () => isAnswered };
}

describe('publish validation through the runner', () => {
  let thumbtack: Thumbtack;
  beforeAll(async () => {
    thumbtack = await startThumbtack({
      routes: `* ${backend.target}\n`,
      args: ['--log-level', 'debug', '--publish-body-max', String(bodyMax)],
    });
  });

  it('refuses bad input with 400 naming the problem, and held connections see nothing', async () => {
    const channel = uniqueName('api');
    const held = await holdBoth(thumbtack, channel);
    const bad: [string, string][] = [
      ['{nope', 'Body is not valid JSON.\n'],
      ['[]', 'Invalid format.\n'],
      ['{}', "Invalid format: object does not contain 'items'\n"],
      ['{"items":{}}', "Invalid format: object contains 'items' with wrong type\n"],
      [
        JSON.stringify({ items: [{ formats: { 'http-stream': { content: 'x' } } }] }),
        "Invalid format: publish item object does not contain 'channel'\n",
      ],
      [
        JSON.stringify({ items: [{ channel: 5, formats: { 'http-stream': { content: 'x' } } }] }),
        "Invalid format: publish item object contains 'channel' with wrong type\n",
      ],
      [
        JSON.stringify({ items: [{ channel, formats: {} }] }),
        'Invalid format: no formats specified\n',
      ],
      [
        JSON.stringify({ items: [{ channel, formats: { 'http-stream': {} } }] }),
        "Invalid format: 'http-stream' does not contain 'content' or 'content-bin'\n",
      ],
      [
        JSON.stringify({
          items: [{ channel, formats: { 'http-response': { code: 1000, body: '' } } }],
        }),
        "Invalid format: 'http-response' contains 'code' with invalid value\n",
      ],
      [
        JSON.stringify({
          items: [{ channel, meta: { n: 1 }, formats: { 'http-stream': { content: 'x' } } }],
        }),
        "Invalid format: 'meta' contains 'n' with wrong type\n",
      ],
      [
        JSON.stringify({ items: [{ channel, formats: { 'http-stream': { action: 'explode' } } }] }),
        'Invalid format: unknown action "explode" in \'http-stream\'\n',
      ],
    ];
    for (const [body, message] of bad) {
      const result = await postPublish(thumbtack, body);
      expect(result, body).toEqual({ status: 400, text: message });
    }
    // Nothing above reached the holds: the next valid item is the first thing they see.
    await publishOk(thumbtack, {
      channel,
      formats: { 'http-stream': { content: 'valid\n' }, 'http-response': { body: 'valid\n' } },
    });
    expect(await held.stream.waitForText('valid\n')).toBe('open\nvalid\n');
    expect((await held.poll).body.toString()).toBe('valid\n');
  });

  it('invalid Base64 and bytes that are not UTF-8 get 400 naming item and field, delivering nothing', async () => {
    const channel = uniqueName('api');
    const held = await holdBoth(thumbtack, channel);
    const first = streamItem(channel, 'first of batch\n');
    const bad: [Buffer, string][] = [
      [
        Buffer.from(
          JSON.stringify({
            items: [first, { channel, formats: { 'http-stream': { 'content-bin': 'aGk*' } } }],
          }),
        ),
        "Invalid format: item 1: 'http-stream' contains 'content-bin' that is not valid Base64\n",
      ],
      [
        Buffer.from(
          JSON.stringify({
            items: [{ channel, formats: { 'http-response': { 'body-bin': 'a b' } } }],
          }),
        ),
        "Invalid format: 'http-response' contains 'body-bin' that is not valid Base64\n",
      ],
      [
        Buffer.concat([
          Buffer.from(JSON.stringify({ items: [first] }).slice(0, -2) + ','),
          Buffer.from(`{"channel":"${channel}","formats":{"http-stream":{"content":"`),
          Buffer.from([0xc3, 0x28]),
          Buffer.from('"}}}]}'),
        ]),
        "Invalid format: item 1: 'formats.http-stream.content' is not valid UTF-8\n",
      ],
      [
        Buffer.from(
          `{"items":[{"channel":"${channel}","formats":{"http-stream":{"content":"\\udc00"}}}]}`,
        ),
        "Invalid format: 'http-stream' contains 'content' that is not valid UTF-8\n",
      ],
    ];
    for (const [body, message] of bad) {
      expect(await postPublish(thumbtack, body), message).toEqual({ status: 400, text: message });
    }
    await publishOk(thumbtack, streamItem(channel, 'valid\n'), {
      channel,
      formats: { 'http-response': { body: 'valid\n' } },
    });
    expect(await held.stream.waitForText('valid\n')).toBe('open\nvalid\n');
    expect((await held.poll).body.toString()).toBe('valid\n');
  });

  it('a published response whose header or reason has CR/LF is refused: no response is split', async () => {
    const channel = uniqueName('split');
    const held = await holdBoth(thumbtack, channel);
    const bad: [Record<string, unknown>, string][] = [
      [
        { headers: { 'X-A': 'v\r\nSet-Cookie: evil=1' }, body: 'x\n' },
        "Invalid format: 'http-response' header 'X-A' has a value with a CR, LF or NUL character\n",
      ],
      [
        { reason: 'OK\r\nSet-Cookie: evil=1', body: 'x\n' },
        "Invalid format: 'http-response' reason has a CR, LF or NUL character\n",
      ],
    ];
    for (const [format, message] of bad) {
      const result = await publish(thumbtack, [{ channel, formats: { 'http-response': format } }]);
      expect(result).toEqual({ status: 400, text: message });
    }
    await publishOk(thumbtack, {
      channel,
      formats: { 'http-response': { headers: { 'X-A': 'clean' }, body: 'valid\n' } },
    });
    const answer = await held.poll;
    expect(answer.body.toString()).toBe('valid\n');
    expect(answer.headers['x-a']).toBe('clean');
    expect(answer.headers['set-cookie']).toBeUndefined();
  });

  it('a batch with one invalid item is refused whole: none of its items is delivered', async () => {
    const channel = uniqueName('api');
    const held = await holdBoth(thumbtack, channel);
    const result = await publish(thumbtack, [
      streamItem(channel, 'first of batch\n'),
      { channel, formats: { 'http-response': { body: 'batch response\n' } } },
      { channel, formats: { 'http-stream': { content: 5 } } },
    ]);
    expect(result).toEqual({
      status: 400,
      text: "Invalid format: item 2: 'http-stream' contains 'content' with wrong type\n",
    });
    await publishOk(thumbtack, streamItem(channel, 'after\n'), {
      channel,
      formats: { 'http-response': { body: 'after\n' } },
    });
    expect(await held.stream.waitForText('after\n')).toBe('open\nafter\n');
    expect((await held.poll).body.toString()).toBe('after\n');
  });

  it('a body over --publish-body-max gets 413 and delivers nothing', async () => {
    const channel = uniqueName('api');
    const held = await holdBoth(thumbtack, channel);
    const big = JSON.stringify({ items: [streamItem(channel, 'x'.repeat(bodyMax))] });
    const result = await postPublish(thumbtack, big);
    expect(result).toEqual({ status: 413, text: 'Request body too large.\n' });
    await publishOk(thumbtack, streamItem(channel, 'small\n'));
    expect(await held.stream.waitForText('small\n')).toBe('open\nsmall\n');
    expect(held.isAnswered()).toBe(false);
  });
});

describe('control API authentication through the runner', () => {
  let thumbtack: Thumbtack;
  beforeAll(async () => {
    thumbtack = await startThumbtack({
      routes: `* ${backend.target}\n`,
      args: ['--log-level', 'debug', '--control-token', controlToken, '--control-jwt-key', jwtKey],
    });
  });

  it('without or with wrong credentials: 401, and nothing is delivered', async () => {
    const channel = uniqueName('auth');
    const held = await holdBoth(thumbtack, channel);
    const body = JSON.stringify({ items: [streamItem(channel, 'sneaky\n')] });
    const none = await postPublish(thumbtack, body);
    expect(none.status).toBe(401);
    expect(none.text).toMatch(/Authorization required/);
    const wrong = await postPublish(thumbtack, body, { authorization: 'Bearer not-it' });
    expect(wrong.status).toBe(401);
    const badJwt = new Publisher(
      { control_uri: thumbtack.controlUrl, control_iss: 'me', key: 'another-key' },
      publisherOptions,
    );
    await expect(badJwt.publishHttpStream(channel, 'forged jwt\n')).rejects.toThrow();
    const res = await request(`${thumbtack.controlUrl}/publish/`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: 'Basic dXNlcjpwYXNz' },
      body,
    });
    expect(res.statusCode).toBe(401);
    await res.body.dump();
    const ok = await postPublish(
      thumbtack,
      JSON.stringify({ items: [streamItem(channel, 'token\n')] }),
      {
        authorization: `Bearer ${controlToken}`,
      },
    );
    expect(ok).toEqual({ status: 200, text: 'Published\n' });
    expect(await held.stream.waitForText('token\n')).toBe('open\ntoken\n');
    expect(held.isAnswered()).toBe(false);
  });

  it('a js-grip Publisher with iss and the shared key signs a JWT that is accepted', async () => {
    const channel = uniqueName('auth');
    const held = await holdBoth(thumbtack, channel);
    const publisher = new Publisher(
      { control_uri: thumbtack.controlUrl, control_iss: 'tests', key: jwtKey },
      publisherOptions,
    );
    await publisher.publishHttpStream(channel, 'signed\n');
    expect(await held.stream.waitForText('signed\n')).toBe('open\nsigned\n');
  });
});
