import net from 'node:net';
import { Publisher, WebSocketMessageFormat, HttpStreamFormat } from '@fanoutio/grip';
import { SignJWT } from 'jose';
import { fetch as undiciFetch, request } from 'undici';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import * as zmq from 'zeromq';
import { runPublish } from '../../src/cli/publish.js';
import { encodeTnetstring } from '../../src/grip/tnetstring.js';
import { preciseNow } from '../../src/ipc/clock.js';
import {
  decodeDelivery,
  replayEndPrefix,
  splitBusMessage,
  type Delivery,
} from '../../src/ipc/delivery.js';
import { freePort } from '../support/free-port.js';
import { readMemory } from '../support/thumbtack.js';
import {
  runHandlerToExit,
  startHandlerProcess,
  type HandlerProcess,
} from '../support/handler-process.js';
import { isChannelEvent, waitForSubscribed } from '../support/channel-events.js';

/*
 * Importing undici 7 makes it Node 20's global dispatcher, and Node's built-in fetch then
 * refuses the Content-Length header js-grip sets; js-grip Publishers here use undici's fetch.
 */
const publisherOptions = { fetch: undiciFetch as unknown as typeof fetch };

const sockets: zmq.Socket[] = [];
const handlers: HandlerProcess[] = [];
let channelCounter = 0;
/** A channel name no other test uses, so history replays never cross tests. */
const uniqueChannel = (label: string): string => `${label}-${++channelCounter}`;

afterEach(() => {
  for (const socket of sockets.splice(0)) socket.close();
});
afterAll(async () => {
  await Promise.all(handlers.splice(0).map((h) => h.stop()));
});

async function startHandler(args: string[] = [], zmqSub?: string): Promise<HandlerProcess> {
  const handler = await startHandlerProcess({ args, ...(zmqSub ? { zmqSub } : {}) });
  handlers.push(handler);
  return handler;
}

/** A SUB on the handler's bus that, like a worker, takes every message and counts listeners. */
function busSubscriber(handler: HandlerProcess, ...channels: string[]): zmq.Subscriber {
  const sub = new zmq.Subscriber({ linger: 0, receiveTimeout: 5000 });
  sub.connect(handler.bus);
  sub.subscribe('', ...channels);
  sockets.push(sub);
  busChannels.set(sub, new Set(channels));
  return sub;
}

const busChannels = new WeakMap<zmq.Subscriber, Set<string>>();
const pendingDeliveries = new WeakMap<zmq.Subscriber, Delivery[]>();
const seenSeqs = new WeakMap<zmq.Subscriber, Set<number>>();

/**
 * The next delivery on one of the subscriber's channels; one bus message may carry several.
 * A channel subscription that reaches the handler after an item makes it send that item
 * again (the subscribe-race replay); like a worker, this drops the second copy by seq.
 */
async function nextDelivery(sub: zmq.Subscriber): Promise<Delivery> {
  const channels = busChannels.get(sub)!;
  let pending = pendingDeliveries.get(sub);
  if (!pending) pendingDeliveries.set(sub, (pending = []));
  let seen = seenSeqs.get(sub);
  if (!seen) seenSeqs.set(sub, (seen = new Set()));
  while (pending.length === 0) {
    const [message] = await sub.receive();
    const deliveries = message ? splitBusMessage(message) : undefined;
    if (!deliveries) throw new Error('received frames that are not a bus message');
    for (const frames of deliveries) {
      const delivery = decodeDelivery(frames);
      if (!delivery) throw new Error('received frames that are not a delivery');
      if (!channels.has(delivery.channel) || seen.has(delivery.header.seq)) continue;
      seen.add(delivery.header.seq);
      pending.push(delivery);
    }
  }
  return pending.shift()!;
}

async function post(
  handler: HandlerProcess,
  path: string,
  body: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; headers: Record<string, unknown>; text: string }> {
  const res = await request(handler.controlUrl + path, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body,
  });
  return { status: res.statusCode, headers: res.headers, text: await res.body.text() };
}

function publishBody(
  channel: string,
  formats: unknown,
  extra: Record<string, unknown> = {},
): string {
  return JSON.stringify({ items: [{ channel, formats, ...extra }] });
}

/** Sends raw bytes and reads until the server closes the connection. */
function rawHttp(port: number, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    let data = '';
    socket.setTimeout(5000, () => socket.destroy(new Error('raw HTTP timed out')));
    socket.on('data', (chunk) => (data += chunk.toString()));
    socket.on('close', () => resolve(data));
    socket.on('error', (err) => (data ? resolve(data) : reject(err)));
    socket.write(text);
  });
}

describe('handler control API and ZeroMQ inputs', () => {
  let handler: HandlerProcess;
  beforeAll(async () => {
    handler = await startHandler(['--log-level', 'debug']);
  });

  it('HTTP publish reaches a bus subscriber with every format encoded', async () => {
    const channel = uniqueChannel('http');
    const sub = busSubscriber(handler, channel);
    const res = await post(
      handler,
      '/publish/',
      publishBody(
        channel,
        {
          'http-stream': { content: 'hello\n' },
          'http-response': { code: 202, headers: [['X-A', '1']], body: 'resp' },
          'ws-message': { 'content-bin': 'AAE=' },
        },
        { id: 'i1', meta: { sender: 'alice' } },
      ),
    );
    expect(res.status).toBe(200);
    expect(res.text).toBe('Published\n');
    expect(res.headers['connection']).toBe('keep-alive');
    expect(res.headers['content-type']).toBe('text/plain');
    const delivery = await nextDelivery(sub);
    expect(delivery.channel).toBe(channel);
    const { header, payload } = delivery;
    expect(header.id).toBe('i1');
    expect(payload[header.stream!.content]!.toString()).toBe('hello\n');
    expect(header.response).toMatchObject({
      code: 202,
      reason: 'Accepted',
      headers: [['X-A', '1']],
    });
    expect(payload[header.response!.body]!.toString()).toBe('resp');
    expect(header.ws).toMatchObject({ action: 'send', type: 'binary' });
    expect(payload[header.ws!.content]).toEqual(Buffer.from([0, 1]));
    // The handler's stamp is on the host's monotonic clock (src/ipc/clock), as ours is.
    expect(Math.abs(header.time - preciseNow())).toBeLessThan(5000);
  });

  it('answers JSON when Accept asks for it, and both /publish and /publish/ work', async () => {
    const channel = uniqueChannel('json');
    const body = publishBody(channel, { 'http-stream': { content: 'x' } });
    const res = await post(handler, '/publish', body, { accept: 'text/html, application/json' });
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toBe('application/json');
    expect(res.text).toBe('{"message":"Published"}\n');
  });

  it('@fanoutio/grip Publisher publishes through the control API', async () => {
    const channel = uniqueChannel('grip');
    const sub = busSubscriber(handler, channel);
    const publisher = new Publisher({ control_uri: handler.controlUrl }, publisherOptions);
    await publisher.publishFormats(channel, [
      new HttpStreamFormat('event: x\ndata: 1\n\n'),
      new WebSocketMessageFormat('hi ws'),
    ]);
    const { header, payload } = await nextDelivery(sub);
    expect(payload[header.stream!.content]!.toString()).toBe('event: x\ndata: 1\n\n');
    expect(payload[header.ws!.content]!.toString()).toBe('hi ws');
  });

  it('ZeroMQ PUSH items arrive as J+JSON, T+tnetstring and bare tnetstring', async () => {
    const channel = uniqueChannel('pull');
    const sub = busSubscriber(handler, channel);
    const push = new zmq.Push({ linger: 0 });
    sockets.push(push);
    push.connect(handler.zmqPull);
    const item = (content: string) => ({ channel, formats: { 'http-stream': { content } } });
    await push.send('J' + JSON.stringify(item('json')));
    await push.send(Buffer.concat([Buffer.from('T'), encodeTnetstring(item('tagged'))]));
    await push.send(encodeTnetstring(item('bare')));
    const contents: string[] = [];
    for (let i = 0; i < 3; i++) {
      const { header, payload } = await nextDelivery(sub);
      contents.push(payload[header.stream!.content]!.toString());
    }
    expect(contents).toEqual(['json', 'tagged', 'bare']);
  });

  it('the SUB input subscribes exactly the listened channels and takes the topic as channel', async () => {
    const channel = uniqueChannel('sub');
    const xpub = new zmq.XPublisher({ linger: 0, receiveTimeout: 5000 });
    sockets.push(xpub);
    xpub.connect(handler.zmqSub);
    const sub = busSubscriber(handler, channel);
    // The handler's SUB asks our XPUB for exactly this channel once a worker listens.
    let message: Buffer;
    do [message] = (await xpub.receive()) as [Buffer];
    while (message.toString('utf8', 1) !== channel);
    expect(message[0]).toBe(1);
    await xpub.send([
      channel,
      'J' + JSON.stringify({ channel: 'ignored', formats: { 'http-stream': { content: 's' } } }),
    ]);
    const delivery = await nextDelivery(sub);
    expect(delivery.channel).toBe(channel);
    expect(delivery.payload[delivery.header.stream!.content]!.toString()).toBe('s');
  });

  it('replays an item published just before a subscription arrives', async () => {
    const channel = uniqueChannel('late');
    const res = await post(
      handler,
      '/publish/',
      publishBody(channel, { 'http-stream': { content: 'early' } }),
    );
    expect(res.status).toBe(200);
    const sub = busSubscriber(handler, channel);
    const { header, payload } = await nextDelivery(sub);
    expect(payload[header.stream!.content]!.toString()).toBe('early');
  });

  it('answers a replay-end subscription after the replay its channel subscription caused', async () => {
    const channel = uniqueChannel('replay-end');
    for (const content of ['r1', 'r2']) {
      await post(handler, '/publish/', publishBody(channel, { 'http-stream': { content } }));
    }
    const topic = `${replayEndPrefix}test:1`;
    const sub = new zmq.Subscriber({ linger: 0, receiveTimeout: 5000 });
    sockets.push(sub);
    sub.connect(handler.bus);
    sub.subscribe('', channel, topic);
    const seen: string[] = [];
    while (!seen.includes(topic)) {
      const [message] = await sub.receive();
      for (const frames of splitBusMessage(message!)!) {
        const name = frames[0]!.toString();
        if (name === topic) seen.push(topic);
        else if (name === channel) seen.push(decodeDelivery(frames)!.payload[0]!.toString());
      }
    }
    // Live copies may come first (the publishes are answered before they reach the bus);
    // the replay comes whole, and the replay-end right after it.
    expect(seen.slice(-3)).toEqual(['r1', 'r2', topic]);
    // Not a channel: it gets no listener count and no replay of its own.
    expect(handler.logs.some(isChannelEvent('channel.subscribed', topic))).toBe(false);
  });

  it('orders items by prev-id for a listened channel and drops a repeated id', async () => {
    const channel = uniqueChannel('seq');
    const sub = busSubscriber(handler, channel);
    await waitForSubscribed(handler, channel);
    const send = (id: string, prevId?: string) =>
      post(
        handler,
        '/publish/',
        publishBody(
          channel,
          { 'http-stream': { content: id } },
          { id, ...(prevId ? { 'prev-id': prevId } : {}) },
        ),
      );
    await send('s1');
    await send('s3', 's2');
    await send('s2', 's1');
    await send('s2', 's1');
    await send('s4', 's3');
    const ids: string[] = [];
    const seqs: number[] = [];
    for (let i = 0; i < 4; i++) {
      const { header } = await nextDelivery(sub);
      ids.push(header.id!);
      seqs.push(header.seq);
    }
    expect(ids).toEqual(['s1', 's2', 's3', 's4']);
    expect([...seqs].sort((a, b) => a - b)).toEqual(seqs);
  });

  const invalid: [string, string, string][] = [
    ['not JSON', '{', 'Body is not valid JSON.\n'],
    ['not an object', '[1]', 'Invalid format.\n'],
    ['no items', '{}', "Invalid format: object does not contain 'items'\n"],
    [
      'items not a list',
      '{"items":1}',
      "Invalid format: object contains 'items' with wrong type\n",
    ],
    [
      'no channel',
      '{"items":[{"formats":{"http-stream":{"content":"x"}}}]}',
      "Invalid format: publish item object does not contain 'channel'\n",
    ],
    [
      'channel not a string',
      '{"items":[{"channel":1,"formats":{"http-stream":{"content":"x"}}}]}',
      "Invalid format: publish item object contains 'channel' with wrong type\n",
    ],
    ['no formats', '{"items":[{"channel":"CH"}]}', 'Invalid format: no formats specified\n'],
    [
      'empty formats',
      '{"items":[{"channel":"CH","formats":{}}]}',
      'Invalid format: no formats specified\n',
    ],
    [
      'http-stream without content',
      '{"items":[{"channel":"CH","formats":{"http-stream":{}}}]}',
      "Invalid format: 'http-stream' does not contain 'content' or 'content-bin'\n",
    ],
    [
      'http-response without body',
      '{"items":[{"channel":"CH","formats":{"http-response":{}}}]}',
      "Invalid format: 'http-response' does not contain 'body', 'body-bin', or 'body-patch'\n",
    ],
    [
      'code out of range',
      '{"items":[{"channel":"CH","formats":{"http-response":{"code":1000,"body":""}}}]}',
      "Invalid format: 'http-response' contains 'code' with invalid value\n",
    ],
    [
      'meta not strings',
      '{"items":[{"channel":"CH","meta":{"k":1},"formats":{"http-stream":{"content":"x"}}}]}',
      "Invalid format: 'meta' contains 'k' with wrong type\n",
    ],
    [
      'unknown action',
      '{"items":[{"channel":"CH","formats":{"http-stream":{"action":"boom"}}}]}',
      'Invalid format: unknown action "boom" in \'http-stream\'\n',
    ],
    [
      'ping payload over 125 bytes',
      `{"items":[{"channel":"CH","formats":{"ws-message":{"type":"ping","content":"${'p'.repeat(126)}"}}}]}`,
      "Invalid format: 'ws-message' contains 'content' longer than 125 bytes, the most a ping carries\n",
    ],
    [
      'close code a client refuses (70000 would arrive as 4464)',
      '{"items":[{"channel":"CH","formats":{"ws-message":{"action":"close","code":70000}}}]}',
      "Invalid format: 'ws-message' contains 'code' with invalid value (close codes a client accepts: 1000-1003, 1007-1014, 3000-4999)\n",
    ],
    [
      'text message whose bytes are not UTF-8',
      '{"items":[{"channel":"CH","formats":{"ws-message":{"type":"text","content-bin":"aP9p"}}}]}',
      "Invalid format: 'ws-message' contains 'content-bin' that is not valid UTF-8\n",
    ],
    [
      'second item invalid',
      '{"items":[{"channel":"CH","formats":{"http-stream":{"content":"x"}}},{"channel":"CH"}]}',
      'Invalid format: item 1: no formats specified\n',
    ],
    [
      'second item on the empty channel',
      '{"items":[{"channel":"CH","formats":{"http-stream":{"content":"x"}}},{"channel":"","formats":{"http-stream":{"content":"x"}}}]}',
      "Invalid format: item 1: publish item object contains 'channel' that is empty\n",
    ],
  ];

  it('rejects every invalid body with 400 and its Pushpin message, publishing nothing', async () => {
    const channel = uniqueChannel('invalid');
    const sub = busSubscriber(handler, channel);
    for (const [name, body, message] of invalid) {
      const res = await post(handler, '/publish/', body.replaceAll('CH', channel));
      expect({ name, status: res.status, text: res.text }).toEqual({
        name,
        status: 400,
        text: message,
      });
      expect(res.headers['content-type']).toBe('text/plain');
    }
    await post(
      handler,
      '/publish/',
      publishBody(channel, { 'http-stream': { content: 'marker' } }),
    );
    const { header, payload } = await nextDelivery(sub);
    expect(payload[header.stream!.content]!.toString()).toBe('marker');
  });

  it('keeps the connection alive: several publishes on one connection are all delivered', async () => {
    const channel = uniqueChannel('keepalive');
    const sub = busSubscriber(handler, channel);
    const publish = (content: string, last: boolean) => {
      const body = publishBody(channel, { 'http-stream': { content } });
      return (
        `POST /publish/ HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n` +
        `Content-Length: ${Buffer.byteLength(body)}\r\n${last ? 'Connection: close\r\n' : ''}` +
        `\r\n${body}`
      );
    };
    const text = await rawHttp(
      handler.controlPort,
      publish('one', false) + publish('two', false) + publish('three', true),
    );
    expect(text.match(/HTTP\/1\.1 200 OK\r\n/g)).toHaveLength(3);
    const contents: string[] = [];
    for (let i = 0; i < 3; i++) {
      const { header, payload } = await nextDelivery(sub);
      contents.push(payload[header.stream!.content]!.toString());
    }
    expect(contents).toEqual(['one', 'two', 'three']);
  });

  it('answers 413 to a body over the limit as soon as Content-Length is seen', async () => {
    const text = await rawHttp(
      handler.controlPort,
      'POST /publish/ HTTP/1.1\r\nHost: x\r\nContent-Length: 2000000\r\n\r\n',
    );
    expect(text).toMatch(/^HTTP\/1\.1 413 /);
    expect(text).toMatch(/\r\n\r\nRequest body too large\.\n$/);
  });

  it('answers 411 without Content-Length, also for chunked bodies', async () => {
    const plain = await rawHttp(handler.controlPort, 'POST /recover HTTP/1.1\r\nHost: x\r\n\r\n');
    expect(plain).toMatch(/^HTTP\/1\.1 411 /);
    expect(plain).toMatch(/\r\nconnection: close\r\n/i);
    expect(plain.endsWith('Request requires Content-Length.\n')).toBe(true);
    const chunked = await rawHttp(
      handler.controlPort,
      'POST /publish/ HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
    );
    expect(chunked).toMatch(/^HTTP\/1\.1 411 /);
  });

  it('routes /, 404, 405 with Allow and 406, and /recover answers Updated', async () => {
    const get = async (path: string, headers: Record<string, string> = {}) => {
      const res = await request(handler.controlUrl + path, { headers });
      return { status: res.statusCode, headers: res.headers, text: await res.body.text() };
    };
    expect(await get('/')).toMatchObject({ status: 200, text: 'Pushpin API\n' });
    expect(await get('/nope')).toMatchObject({ status: 404, text: 'Not Found\n' });
    expect(await get('/publish//')).toMatchObject({ status: 404 });
    const notAllowed = await get('/publish/');
    expect(notAllowed).toMatchObject({ status: 405, text: 'Method not allowed: GET.\n' });
    expect(notAllowed.headers['allow']).toBe('POST');
    expect(await get('/', { accept: 'image/png' })).toMatchObject({
      status: 406,
      text: 'Not Acceptable. Supported formats are text/plain and application/json.\n',
    });
    expect(await post(handler, '/recover', '')).toMatchObject({ status: 200, text: 'Updated\n' });
  });

  it('routes on the path alone: a query string does not change the route', async () => {
    const channel = uniqueChannel('query');
    const sub = busSubscriber(handler, channel);
    const body = publishBody(channel, { 'http-stream': { content: 'queried' } });
    expect(await post(handler, '/publish/?x=1', body)).toMatchObject({
      status: 200,
      text: 'Published\n',
    });
    const { header, payload } = await nextDelivery(sub);
    expect(payload[header.stream!.content]!.toString()).toBe('queried');
    expect(await post(handler, '/publish?', body)).toMatchObject({ status: 200 });
    expect(await post(handler, '/recover?from=test', '')).toMatchObject({
      status: 200,
      text: 'Updated\n',
    });
    const res = await request(`${handler.controlUrl}/?x=1`);
    expect(await res.body.text()).toBe('Pushpin API\n');
    const doubled = await request(`${handler.controlUrl}/publish//?x=1`);
    await doubled.body.dump();
    expect(doubled.statusCode).toBe(404);
  });

  it('survives garbage on PULL and SUB and keeps delivering', async () => {
    const channel = uniqueChannel('garbage');
    const sub = busSubscriber(handler, channel);
    await waitForSubscribed(handler, channel);
    const push = new zmq.Push({ linger: 0 });
    const xpub = new zmq.XPublisher({ linger: 0, receiveTimeout: 5000 });
    sockets.push(push, xpub);
    push.connect(handler.zmqPull);
    xpub.connect(handler.zmqSub);
    await push.send('garbage');
    await push.send(['two', 'parts']);
    await push.send('J{"channel":');
    await push.send(Buffer.from([0xff, 0x00, 0x3a]));
    await handler.waitForLog((l) => l.msg === 'zmq pull: message with parts != 1, skipping');
    await push.send(
      'J' + JSON.stringify({ channel, formats: { 'http-stream': { content: 'ok' } } }),
    );
    let delivery = await nextDelivery(sub);
    expect(delivery.payload[delivery.header.stream!.content]!.toString()).toBe('ok');

    // Once the handler's SUB has asked for the channel, garbage sent on it reaches the handler.
    let message: Buffer;
    do [message] = (await xpub.receive()) as [Buffer];
    while (message.toString('utf8', 1) !== channel);
    await xpub.send([channel, 'J not json']);
    await xpub.send([channel, 'x', 'three parts']);
    await handler.waitForLog((l) => l.msg === 'zmq sub: invalid publish item, skipping');
    await handler.waitForLog((l) => l.msg === 'zmq sub: message with parts != 2, skipping');
    // A topic that starts with the channel (a ZeroMQ prefix match) but is not UTF-8.
    const badTopic = Buffer.concat([Buffer.from(channel), Buffer.from([0xff, 0xfe])]);
    await xpub.send([
      badTopic,
      'J' + JSON.stringify({ formats: { 'http-stream': { content: 'x' } } }),
    ]);
    const skipped = await handler.waitForLog(
      (l) => l.msg === 'zmq sub: topic is not UTF-8, skipping',
    );
    expect(skipped.topic).toBe(badTopic.toString('hex'));
    await xpub.send([
      channel,
      'J' + JSON.stringify({ formats: { 'http-stream': { content: 'sub ok' } } }),
    ]);
    delivery = await nextDelivery(sub);
    expect(delivery.payload[delivery.header.stream!.content]!.toString()).toBe('sub ok');
    expect(handler.process.exitCode).toBeNull();
    const res = await post(
      handler,
      '/publish/',
      publishBody(channel, { 'http-stream': { content: 'still' } }),
    );
    expect(res.status).toBe(200);
  });
});

describe('thumbtack publish', () => {
  let handler: HandlerProcess;
  beforeAll(async () => {
    handler = await startHandler(['--control-token', 'cli-token']);
  });
  afterEach(() => {
    vi.restoreAllMocks();
  });

  it('publishes all three formats, appending a newline to HTTP payloads', async () => {
    const channel = uniqueChannel('cli');
    const sub = busSubscriber(handler, channel);
    const stdout = vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
    const code = await runPublish([
      channel,
      'hello',
      '--id',
      'c1',
      '--code',
      '201',
      '-H',
      'X-Thing: yes',
      '--sender',
      'me',
      '--control-uri',
      handler.controlUrl,
      '--token',
      'cli-token',
    ]);
    expect(code).toBe(0);
    expect(stdout).toHaveBeenCalledWith('Published\n');
    const { header, payload } = await nextDelivery(sub);
    expect(header.id).toBe('c1');
    expect(payload[header.stream!.content]!.toString()).toBe('hello\n');
    expect(payload[header.response!.body]!.toString()).toBe('hello\n');
    expect(header.response).toMatchObject({ code: 201, headers: [['X-Thing', 'yes']] });
    expect(payload[header.ws!.content]!.toString()).toBe('hello');
  });

  it('sends close to streams and WebSockets only', async () => {
    const channel = uniqueChannel('cli-close');
    const sub = busSubscriber(handler, channel);
    vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
    const args = [channel, '--close', '--control-uri', handler.controlUrl, '--token', 'cli-token'];
    expect(await runPublish(args)).toBe(0);
    const { header } = await nextDelivery(sub);
    expect(header.response).toBeUndefined();
    expect(header.stream?.action).toBe('close');
    expect(header.ws?.action).toBe('close');
  });

  it('prints the server error body and returns 1 when refused', async () => {
    const stderr = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    const code = await runPublish([
      'ch',
      'x',
      '--control-uri',
      handler.controlUrl,
      '--token',
      'wrong',
    ]);
    expect(code).toBe(1);
    expect(stderr).toHaveBeenCalledWith('Invalid bearer token.\n');
  });

  it('returns 2 on a usage error', async () => {
    vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    expect(await runPublish([])).toBe(2);
    expect(await runPublish(['ch', 'x', '--format', 'smoke-signal'])).toBe(2);
    expect(await runPublish(['ch', 'x', '--code', '1000'])).toBe(2);
  });
});

describe('ZeroMQ message size limit (--publish-body-max)', () => {
  const bodyMax = 100_000;
  const bigContent = 'x'.repeat(10_000_000);
  let handler: HandlerProcess;
  beforeAll(async () => {
    handler = await startHandler(['--log-level', 'debug', '--publish-body-max', String(bodyMax)]);
  });

  function disconnectLogged(label: string): Promise<unknown> {
    return handler.waitForLog(
      (l) =>
        l.msg.startsWith(`${label}: publisher disconnected`) && l['maxMessageSize'] === bodyMax,
    );
  }

  it('PULL: a 10 MB message is refused without growing the handler; the next one arrives', async () => {
    const channel = uniqueChannel('pull-big');
    const sub = busSubscriber(handler, channel);
    await waitForSubscribed(handler, channel);
    const pid = handler.process.pid!;
    const peakBefore = readMemory(pid, 'VmHWM');
    const push = new zmq.Push({ linger: 0 });
    sockets.push(push);
    push.connect(handler.zmqPull);
    const item = (content: string) =>
      'J' + JSON.stringify({ channel, formats: { 'http-stream': { content } } });
    await push.send(item(bigContent));
    await push.send(item('after the big one'));
    const { header, payload } = await nextDelivery(sub);
    expect(payload[header.stream!.content]!.toString()).toBe('after the big one');
    await disconnectLogged('zmq pull');
    // Taking it would have cost tens of MB (the frame, its string, the parsed item).
    expect(readMemory(pid, 'VmHWM') - peakBefore).toBeLessThan(8 * 1024 * 1024);
    expect(handler.process.exitCode).toBeNull();
  });

  it('SUB: a 10 MB part is refused, the publisher is asked again for the channel, and the next one arrives', async () => {
    const channel = uniqueChannel('sub-big');
    // Verbose: the resubscription after the reconnect may come before the old
    // connection's subscription is forgotten, and would otherwise be filtered as a repeat.
    const xpub = new zmq.XPublisher({ linger: 0, receiveTimeout: 5000 });
    xpub.verbosity = 'allSubs';
    sockets.push(xpub);
    xpub.connect(handler.zmqSub);
    const sub = busSubscriber(handler, channel);
    const subscription = async (): Promise<void> => {
      let message: Buffer;
      do [message] = (await xpub.receive()) as [Buffer];
      while (message[0] !== 1 || message.toString('utf8', 1) !== channel);
    };
    await subscription();
    const item = (content: string) =>
      'J' + JSON.stringify({ formats: { 'http-stream': { content } } });
    await xpub.send([channel, item(bigContent)]);
    // The handler's SUB was disconnected and, reconnected, subscribes again.
    await subscription();
    await xpub.send([channel, item('after the big one')]);
    const { header, payload } = await nextDelivery(sub);
    expect(payload[header.stream!.content]!.toString()).toBe('after the big one');
    await disconnectLogged('zmq sub');
    expect(handler.process.exitCode).toBeNull();
  });
});

describe('handler SUB input in connect mode', () => {
  it('connects to a publisher XPUB and forwards subscribe and unsubscribe', async () => {
    const port = await freePort();
    const xpub = new zmq.XPublisher({ linger: 0, receiveTimeout: 5000 });
    sockets.push(xpub);
    await xpub.bind(`tcp://127.0.0.1:${port}`);
    const handler = await startHandler(['--zmq-sub-connect'], `tcp://127.0.0.1:${port}`);
    const channel = uniqueChannel('connect');
    // Items addressed to one connection are always asked for, before any channel.
    const [always] = (await xpub.receive()) as [Buffer];
    expect([always[0], always.toString('utf8', 1)]).toEqual([1, '$connection:']);
    const sub = busSubscriber(handler, channel);
    const [first] = (await xpub.receive()) as [Buffer];
    expect([first[0], first.toString('utf8', 1)]).toEqual([1, channel]);
    await xpub.send([
      channel,
      'J' + JSON.stringify({ formats: { 'http-stream': { content: 'c' } } }),
    ]);
    const delivery = await nextDelivery(sub);
    expect(delivery.payload[delivery.header.stream!.content]!.toString()).toBe('c');
    sub.unsubscribe(channel);
    const [second] = (await xpub.receive()) as [Buffer];
    expect([second[0], second.toString('utf8', 1)]).toEqual([0, channel]);
  });
});

describe('handler control API authentication', () => {
  it('with --control-token: 401 without or with a wrong token, 200 with it', async () => {
    const handler = await startHandler(['--control-token', 's3cret']);
    const body = publishBody('auth', { 'http-stream': { content: 'x' } });
    const missing = await post(handler, '/publish/', body);
    expect(missing.status).toBe(401);
    expect(missing.headers['www-authenticate']).toBe('Bearer');
    expect(missing.text).toMatch(/Authorization required/);
    expect((await post(handler, '/publish/', body, { authorization: 'Bearer nope' })).status).toBe(
      401,
    );
    expect(
      (await post(handler, '/publish/', body, { authorization: 'Basic czNjcmV0' })).status,
    ).toBe(401);
    const ok = await post(handler, '/publish/', body, { authorization: 'Bearer s3cret' });
    expect(ok).toMatchObject({ status: 200, text: 'Published\n' });
    // js-grip sends a bare key as Bearer when its GRIP URL has a key and no iss.
    await new Publisher(
      { control_uri: handler.controlUrl, key: 's3cret' },
      publisherOptions,
    ).publishHttpStream('auth', 'y');
  });

  it('with --control-jwt-key: accepts a Publisher with iss and key, refuses bad or expired JWTs', async () => {
    const key = 'jwt-signing-key';
    const handler = await startHandler(['--control-jwt-key', key]);
    const base64Key = Buffer.from(key).toString('base64');
    const good = new Publisher(
      `${handler.controlUrl}/?iss=test&key=base64:${base64Key}`,
      publisherOptions,
    );
    await good.publishHttpStream('jwt', 'ok');
    const wrongKey = Buffer.from('other-key').toString('base64');
    const bad = new Publisher(
      `${handler.controlUrl}/?iss=test&key=base64:${wrongKey}`,
      publisherOptions,
    );
    await expect(bad.publishHttpStream('jwt', 'no')).rejects.toMatchObject({
      context: { statusCode: 401 },
    });
    const expired = await new SignJWT({ iss: 'test' })
      .setProtectedHeader({ alg: 'HS256' })
      .setExpirationTime(Math.floor(Date.now() / 1000) - 60)
      .sign(Buffer.from(key));
    const res = await post(
      handler,
      '/publish/',
      publishBody('jwt', { 'http-stream': { content: 'x' } }),
      {
        authorization: `Bearer ${expired}`,
      },
    );
    expect(res.status).toBe(401);
    expect(res.text).toMatch(/^Invalid JWT: .*exp/);
  });
});

describe('health probes on the control port', () => {
  async function probe(handler: HandlerProcess, path: string, method = 'GET') {
    const res = await request(handler.controlUrl + path, { method });
    const text = await res.body.text();
    return { status: res.statusCode, type: res.headers['content-type'], text };
  }

  it('/healthz answers while the handler serves; /readyz says whether a proxy worker is connected', async () => {
    const handler = await startHandler();
    expect(await probe(handler, '/healthz')).toEqual({
      status: 200,
      type: 'application/json',
      text: '{"status":"ok"}\n',
    });
    const alone = await probe(handler, '/readyz');
    expect(alone.status).toBe(503);
    expect(JSON.parse(alone.text)).toEqual({
      ready: false,
      workers: 0,
      problems: ['no proxy worker is connected to the handler bus'],
    });

    // A worker's bus socket: its subscription to every message is what the handler counts.
    const worker = busSubscriber(handler);
    let ready = await probe(handler, '/readyz');
    for (let i = 0; i < 50 && ready.status !== 200; i++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      ready = await probe(handler, '/readyz');
    }
    expect(ready.status).toBe(200);
    expect(JSON.parse(ready.text)).toEqual({ ready: true, workers: 1 });

    worker.close();
    let gone = await probe(handler, '/readyz');
    for (let i = 0; i < 50 && gone.status !== 503; i++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      gone = await probe(handler, '/readyz');
    }
    expect(JSON.parse(gone.text)).toMatchObject({ ready: false, workers: 0 });
  });

  it('probes need no credentials, take GET and HEAD only, and ignore a query string', async () => {
    const handler = await startHandler(['--control-token', 'secret']);
    expect((await probe(handler, '/healthz?from=kubelet')).status).toBe(200);
    expect((await probe(handler, '/healthz', 'HEAD')).status).toBe(200);
    expect((await probe(handler, '/healthz', 'POST')).status).toBe(405);
    expect((await probe(handler, '/readyz', 'DELETE')).status).toBe(405);
  });
});

describe('handler process', () => {
  it('exits 2 with one line naming a bad setting', async () => {
    const result = await runHandlerToExit(['handler', '--control-port', 'nope']);
    expect(result.code).toBe(2);
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
    expect(result.stderr).toMatch(/--control-port/);
  });

  it('exits 0 on SIGTERM', async () => {
    const handler = await startHandlerProcess();
    expect(await handler.stop()).toBe(0);
  });

  it('run alone, it keeps serving after SIGHUP (Node would end it): it reloads its settings', async () => {
    const handler = await startHandler();
    handler.process.kill('SIGHUP');
    await handler.waitForLog((l) => l.msg === 'reloaded settings');
    expect(handler.process.exitCode).toBe(null);
    const res = await post(
      handler,
      '/publish/',
      publishBody('hup', { 'http-stream': { content: 'x' } }),
    );
    expect(res.status).toBe(200);
    expect(await handler.stop()).toBe(0);
  });
});
