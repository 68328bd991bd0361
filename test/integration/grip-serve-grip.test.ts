import type { AddressInfo } from 'node:net';
import type http from 'node:http';
import { HttpResponseFormat, HttpStreamFormat, Publisher } from '@fanoutio/grip';
import { ServeGrip } from '@fanoutio/serve-grip';
import express from 'express';
import { fetch as undiciFetch } from 'undici';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import * as zmq from 'zeromq';
import { encodeTnetstring } from '../../src/grip/tnetstring.js';
import { send } from '../support/client.js';
import { openStream, publish, publishOk, uniqueName, type StreamClient } from '../support/grip.js';
import { startThumbtack, stopAllThumbtacks, type Thumbtack } from '../support/thumbtack.js';
import { waitForSubscribed } from '../support/channel-events.js';

/*
 * Real libraries on both ends: an Express backend using @fanoutio/serve-grip (which only
 * emits instructions for requests whose Grip-Sig it can verify), publishes made with
 * @fanoutio/grip's Publisher, a ZeroMQ PUSH socket and a ZeroMQ PUB socket.
 */

const sigKey = 'serve-grip-test-key';
/*
 * Importing undici 7 makes it Node 20's global dispatcher, and Node's built-in fetch then
 * refuses the Content-Length header js-grip sets; Publishers here use undici's fetch.
 */
const publisherOptions = { fetch: undiciFetch as unknown as typeof fetch };

let server: http.Server;
let thumbtack: Thumbtack;
let publisher: Publisher;
const streams: StreamClient[] = [];
const sockets: zmq.Socket[] = [];

beforeAll(async () => {
  const app = express();
  // verify_key: the backend answers as a GRIP backend only to requests signed with it.
  const serveGrip = new ServeGrip({
    grip: { control_uri: 'http://127.0.0.1:1/', verify_key: sigKey, verify_iss: 'pushpin' },
    gripProxyRequired: true,
  });
  app.use(serveGrip);
  /*
   * serve-grip 2.0.0 tests `validateSig(...)` (async in js-grip 4) inside Array.some, so any
   * Grip-Sig passes its own check; the backend therefore verifies with js-grip's Publisher.
   */
  const isSignedByProxy = async (req: express.Request): Promise<boolean> =>
    (await serveGrip.getPublisher().validateGripSig(req.get('grip-sig') ?? null)).isSigned;
  app.get('/stream/:channel', async (req, res) => {
    if (!(await isSignedByProxy(req))) {
      res.status(403).end('bad Grip-Sig\n');
      return;
    }
    const instruct = res.grip!.startInstruct();
    instruct.addChannel(req.params.channel);
    instruct.setHoldStream();
    instruct.setKeepAlive(':\n\n', 20);
    res.setHeader('Content-Type', 'text/plain');
    res.end(`[stream ${req.grip!.isProxied ? 'proxied' : 'direct'}]\n`);
  });
  app.get('/poll/:channel', async (req, res) => {
    if (!(await isSignedByProxy(req))) {
      res.status(403).end('bad Grip-Sig\n');
      return;
    }
    const instruct = res.grip!.startInstruct();
    instruct.addChannel(req.params.channel);
    instruct.setHoldLongPoll(30);
    res.setHeader('Content-Type', 'application/json');
    res.end('{"items":[]}\n');
  });
  server = await new Promise<http.Server>((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s));
  });
  const { port } = server.address() as AddressInfo;
  thumbtack = await startThumbtack({
    routes:
      `*,path_beg=/wrong/,sig_key=not-the-key,replace_beg=/ 127.0.0.1:${port}\n` +
      `*,sig_key=${sigKey} 127.0.0.1:${port}\n`,
    args: ['--log-level', 'debug'],
  });
  publisher = new Publisher({ control_uri: thumbtack.controlUrl }, publisherOptions);
});
afterEach(() => {
  for (const socket of sockets.splice(0)) socket.close();
});
afterAll(async () => {
  for (const stream of streams) stream.close();
  await stopAllThumbtacks();
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

async function holdStream(channel: string): Promise<StreamClient> {
  const [stream] = await Promise.all([
    openStream(`${thumbtack.url}/stream/${channel}`),
    waitForSubscribed(thumbtack, channel),
  ]);
  streams.push(stream);
  return stream;
}

describe('serve-grip backend', () => {
  it('validates our Grip-Sig and holds a stream that Publisher.publishHttpStream reaches', async () => {
    const channel = uniqueName('sg');
    const stream = await holdStream(channel);
    expect(stream.status).toBe(200);
    await stream.waitForText('[stream proxied]\n');
    await publisher.publishHttpStream(channel, 'hello from js-grip\n');
    await publisher.publishFormats(channel, new HttpStreamFormat('second\n'));
    expect(await stream.waitForText('second\n')).toBe(
      '[stream proxied]\nhello from js-grip\nsecond\n',
    );
  });

  it('a request signed with another key fails verification at the backend', async () => {
    const res = await send(`${thumbtack.url}/wrong/stream/${uniqueName('sg')}`);
    expect(res.status).toBe(403);
    expect(res.body.toString()).toBe('bad Grip-Sig\n');
  });

  it('a long-poll is answered by Publisher.publishHttpResponse; Publisher closes a stream', async () => {
    const channel = uniqueName('sg');
    const done = send(`${thumbtack.url}/poll/${channel}`);
    const stream = await holdStream(channel);
    await publisher.publishHttpResponse(
      channel,
      // js-grip 4 types the code as a string and sends it quoted.
      new HttpResponseFormat({
        code: '201',
        headers: { 'X-Pub': 'js-grip' },
        body: '{"items":[1]}\n',
      }),
    );
    const res = await done;
    expect(res.status).toBe(201);
    expect(res.headers['content-type']).toBe('application/json');
    expect(res.headers['x-pub']).toBe('js-grip');
    expect(res.body.toString()).toBe('{"items":[1]}\n');
    await publisher.publishFormats(channel, new HttpStreamFormat(null, true));
    expect(await stream.waitForEnd()).toBe('[stream proxied]\n');
  });
});

describe('ZeroMQ publishers', () => {
  it('a PUSH socket delivers J+JSON, T+tnetstring and bare tnetstring items in order', async () => {
    const channel = uniqueName('push');
    const stream = await holdStream(channel);
    const push = new zmq.Push({ linger: 0 });
    sockets.push(push);
    push.connect(thumbtack.zmqPull);
    const item = (content: string) => ({ channel, formats: { 'http-stream': { content } } });
    await push.send('J' + JSON.stringify(item('json\n')));
    await push.send(Buffer.concat([Buffer.from('T'), encodeTnetstring(item('tnet\n'))]));
    await push.send(encodeTnetstring(item('bare\n')));
    expect(await stream.waitForText('bare\n')).toBe('[stream proxied]\njson\ntnet\nbare\n');
  });

  it('a PUB socket delivers topic + J JSON to held clients once its subscription arrives', async () => {
    const channel = uniqueName('pub');
    const stream = await holdStream(channel);
    const pub = new zmq.Publisher({ linger: 0 });
    sockets.push(pub);
    pub.connect(thumbtack.zmqSub);
    // The handler's SUB asks for the channel only now that it has a listener, and a PUB
    // drops what nobody asked for: resend the same item (same id, so the handler's
    // duplicate suppression keeps it to one delivery) until it arrives.
    const message = [
      channel,
      'J' +
        JSON.stringify({
          channel: 'ignored-the-topic-wins',
          id: 'pub-1',
          formats: { 'http-stream': { content: 'via pub\n' } },
        }),
    ];
    const arrived = stream.waitForText('via pub\n');
    let isArrived = false;
    void arrived.then(
      () => (isArrived = true),
      () => undefined,
    );
    const deadline = Date.now() + 5_000;
    while (!isArrived && Date.now() < deadline) {
      await pub.send(message);
      await Promise.race([arrived, new Promise((resolve) => setTimeout(resolve, 50))]);
    }
    await arrived;
    await publishOk(thumbtack, {
      channel,
      formats: { 'http-stream': { content: 'after\n' } },
    });
    expect(await stream.waitForText('after\n')).toBe('[stream proxied]\nvia pub\nafter\n');
  });
});

describe('publishing to HTTP holds', () => {
  it('several items in one publish each reach their channel and transport', async () => {
    const [a, b] = [uniqueName('multi'), uniqueName('multi')];
    // The long-poll starts first: items published before a request was made are not for it.
    const poll = send(`${thumbtack.url}/poll/${a}`);
    const streamA = await holdStream(a);
    const streamB = await holdStream(b);
    await publishOk(
      thumbtack,
      {
        channel: a,
        formats: {
          'http-stream': { content: 'a1\n' },
          'http-response': { body: 'a-response\n' },
          'ws-message': { content: 'a-ws' },
        },
      },
      { channel: b, formats: { 'http-stream': { content: 'b1\n' } } },
      { channel: a, formats: { 'http-stream': { content: 'a2\n' } } },
    );
    expect(await streamA.waitForText('a2\n')).toBe('[stream proxied]\na1\na2\n');
    expect(await streamB.waitForText('b1\n')).toBe('[stream proxied]\nb1\n');
    expect((await poll).body.toString()).toBe('a-response\n');
  });

  it('ws-message-only publishes do not disturb HTTP holds', async () => {
    const channel = uniqueName('wsonly');
    const poll = send(`${thumbtack.url}/poll/${channel}`);
    const stream = await holdStream(channel);
    let isAnswered = false;
    void poll.then(
      () => (isAnswered = true),
      () => undefined,
    );
    const result = await publish(thumbtack, [
      { channel, formats: { 'ws-message': { content: 'text' } } },
      { channel, formats: { 'ws-message': { action: 'close', code: 4001 } } },
      { channel, formats: { 'ws-message': { type: 'ping' } } },
    ]);
    expect(result.status).toBe(200);
    await publishOk(thumbtack, {
      channel,
      formats: { 'http-stream': { content: 'http\n' } },
    });
    expect(await stream.waitForText('http\n')).toBe('[stream proxied]\nhttp\n');
    expect(isAnswered).toBe(false);
    await publishOk(thumbtack, { channel, formats: { 'http-response': { body: 'done\n' } } });
    expect((await poll).body.toString()).toBe('done\n');
  });
});
