import type http from 'node:http';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import * as zmq from 'zeromq';
import { WebSocketServer } from 'ws';
import { stopAllBackends } from '../support/backend.js';
import {
  openStream,
  publish,
  publishOk,
  startPathBackend,
  streamItem,
  type PathBackend,
} from '../support/grip.js';
import { closeAllHeldClients, openHeldClient } from '../support/held-client.js';
import { startRedisServer, stopAllRedisServers } from '../support/redis-server.js';
import {
  busReady,
  startThumbtack,
  stopAllThumbtacks,
  type Thumbtack,
} from '../support/thumbtack.js';
import { closeAllWsClients, connectWs, startWohBackend, type WohBackend } from '../support/ws.js';

/*
 * Push to one connection: every held connection has an id the backend sees
 * (`Connection-Id`), and a publish to channel `$connection:<id>` reaches that connection
 * alone, whichever worker (or node, with Redis) holds it, without the backend subscribing
 * it to anything.
 */

let backend: PathBackend;
let woh: WohBackend;

function holdOn(channel: string, kind: 'stream' | 'response'): http.RequestListener {
  return (_req, res) => {
    res.writeHead(200, {
      'content-type': 'text/plain',
      'grip-hold': kind,
      'grip-channel': channel,
      ...(kind === 'response' ? { 'grip-timeout': '20' } : {}),
    });
    res.end(kind === 'stream' ? 'open\n' : 'timed out\n');
  };
}

beforeAll(async () => {
  backend = await startPathBackend();
  backend.on('/stream', holdOn('shared', 'stream'));
  backend.on('/poll', holdOn('shared', 'response'));
  backend.on('/plain', (req, res) => {
    res.end(`plain ${String(req.headers['connection-id'])}\n`);
  });
  woh = await startWohBackend((ws) => {
    if (ws.isOpening()) ws.accept();
  });
});

afterEach(() => {
  closeAllHeldClients();
  closeAllWsClients();
});

afterAll(async () => {
  await stopAllThumbtacks();
  await stopAllBackends();
  await stopAllRedisServers();
});

function routes(extra = ''): string {
  return `${extra}*,path_beg=/woh ${woh.target},over_http\n* ${backend.target}\n`;
}

/** The Connection-Id the backend saw on the latest request to `path`. */
async function connectionIdOf(path: string, count: number): Promise<string> {
  const requests = await backend.waitForRequests(path, count);
  const id = requests[count - 1]!.headers['connection-id'];
  expect(typeof id).toBe('string');
  return id as string;
}

function wsMessage(channel: string, content: string): unknown {
  return { channel, formats: { 'ws-message': { content } } };
}

describe('push to one connection', () => {
  let tt: Thumbtack;

  beforeAll(async () => {
    tt = await startThumbtack({ routes: routes(), workers: 2 });
    await busReady(tt, 2);
  });

  it('reaches one stream hold by the Connection-Id its backend saw, and not the others on its channel', async () => {
    const seen = backend.requestsTo('/stream').length;
    const first = await openStream(`${tt.url}/stream`);
    await first.waitForText('open\n');
    const firstId = await connectionIdOf('/stream', seen + 1);
    const second = await openStream(`${tt.url}/stream`);
    await second.waitForText('open\n');
    const secondId = await connectionIdOf('/stream', seen + 2);
    expect(secondId).not.toBe(firstId);

    await publishOk(tt, streamItem(`$connection:${secondId}`, 'only you\n'));
    await publishOk(tt, streamItem('shared', 'everyone\n'));
    expect(await second.waitForText('everyone\n')).toBe('open\nonly you\neveryone\n');
    expect(await first.waitForText('everyone\n')).toBe('open\neveryone\n');
    first.close();
    second.close();
  });

  it('delivers what the backend published to the id before its hold answer reached the proxy', async () => {
    backend.on('/self', (req, res) => {
      const id = String(req.headers['connection-id']);
      // Published, then some work before answering: the item reaches the worker first.
      void publishOk(tt, streamItem(`$connection:${id}`, 'before the answer\n'))
        .then(() => new Promise((resolve) => setTimeout(resolve, 200)))
        .then(() => holdOn('shared', 'stream')(req, res));
    });
    const stream = await openStream(`${tt.url}/self`);
    expect(await stream.waitForText('before the answer\n')).toBe('open\nbefore the answer\n');
    stream.close();
  });

  it('answers one long-poll', async () => {
    const seen = backend.requestsTo('/poll').length;
    // One after the other: opened together, either request could reach the backend first.
    const poll = openHeldClient(`${tt.url}/poll`);
    const id = await connectionIdOf('/poll', seen + 1);
    const other = openHeldClient(`${tt.url}/poll`);
    await backend.waitForRequests('/poll', seen + 2);
    await publishOk(tt, {
      channel: `$connection:${id}`,
      formats: { 'http-response': { body: 'for one\n' } },
    });
    await poll.closed;
    expect(poll.text()).toBe('for one\n');
    expect(other.isClosed()).toBe(false);
  });

  it('reaches a WebSocket-over-HTTP client by its Connection-Id', async () => {
    const client = await connectWs(`${tt.url.replace('http', 'ws')}/woh`);
    const cid = woh.cidOf(client);
    await publishOk(tt, wsMessage(`$connection:${cid}`, 'hello one'));
    expect((await client.next()).text).toBe('hello one');
  });

  it('reaches a passthrough WebSocket by the Connection-Id of its upgrade request', async () => {
    const ids: string[] = [];
    const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
    wss.on('connection', (_socket, req) => ids.push(String(req.headers['connection-id'])));
    await new Promise((resolve) => wss.once('listening', resolve));
    const port = (wss.address() as { port: number }).port;
    const own = await startThumbtack({ routes: `* 127.0.0.1:${port}\n` });
    try {
      await busReady(own);
      const client = await connectWs(`${own.url.replace('http', 'ws')}/any`);
      await expect.poll(() => ids.length).toBe(1);
      await publishOk(own, wsMessage(`$connection:${ids[0]}`, 'pushed'));
      expect((await client.next()).text).toBe('pushed');
    } finally {
      await own.stop();
      wss.close();
    }
  });

  it('never takes a client’s own Connection-Id; no_grip routes pass it on untouched', async () => {
    const own = await startThumbtack({
      routes: `*,path_beg=/plain/raw,no_grip ${backend.target}\n${routes()}`,
    });
    try {
      const grip = await openStream(`${own.url}/plain`, { headers: { 'connection-id': 'forged' } });
      const gripText = await grip.waitForEnd();
      expect(gripText).toMatch(/^plain [0-9a-f-]{36}\n$/);
      expect(gripText).not.toContain('forged');
      backend.on('/plain/raw', (req, res) =>
        res.end(`raw ${String(req.headers['connection-id'])}\n`),
      );
      const raw = await openStream(`${own.url}/plain/raw`, {
        headers: { 'connection-id': 'mine' },
      });
      expect(await raw.waitForEnd()).toBe('raw mine\n');
    } finally {
      await own.stop();
    }
  });

  it('takes a publish to an unknown connection with 200 and delivers nothing', async () => {
    const seen = backend.requestsTo('/stream').length;
    const stream = await openStream(`${tt.url}/stream`);
    await stream.waitForText('open\n');
    await connectionIdOf('/stream', seen + 1);
    const result = await publish(tt, [streamItem('$connection:no-such-id', 'lost\n')]);
    expect(result.status).toBe(200);
    await publishOk(tt, streamItem('shared', 'after\n'));
    expect(await stream.waitForText('after\n')).toBe('open\nafter\n');
    stream.close();
  });

  it('takes items addressed to one connection from the ZeroMQ SUB input', async () => {
    const seen = backend.requestsTo('/stream').length;
    const stream = await openStream(`${tt.url}/stream`);
    await stream.waitForText('open\n');
    const id = await connectionIdOf('/stream', seen + 1);
    const pub = new zmq.Publisher({ linger: 0 });
    pub.connect(tt.zmqSub);
    try {
      const channel = `$connection:${id}`;
      const item = JSON.stringify({ channel, formats: { 'http-stream': { content: 'zmq\n' } } });
      // A PUB socket drops what it sends before the subscription has reached it: repeat
      // (bounded) until the first one arrives.
      const deadline = Date.now() + 10_000;
      while (!stream.text().includes('zmq\n') && Date.now() < deadline) {
        await pub.send([channel, `J${item}`]);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      expect(stream.text()).toMatch(/^open\n(zmq\n)+$/);
    } finally {
      pub.close();
      stream.close();
    }
  });
});

describe('push to one connection across nodes (Redis)', () => {
  it('reaches a connection held by another node', async () => {
    const redis = await startRedisServer();
    const args = ['--redis', redis.url];
    const [a, b] = await Promise.all([
      startThumbtack({ routes: routes(), args }),
      startThumbtack({ routes: routes(), args }),
    ]);
    await Promise.all([busReady(a), busReady(b)]);
    const seen = backend.requestsTo('/stream').length;
    const stream = await openStream(`${b.url}/stream`);
    await stream.waitForText('open\n');
    const id = await connectionIdOf('/stream', seen + 1);
    const client = await connectWs(`${b.url.replace('http', 'ws')}/woh`);
    await publishOk(a, streamItem(`$connection:${id}`, 'from node a\n'));
    expect(await stream.waitForText('from node a\n')).toBe('open\nfrom node a\n');
    await publishOk(a, wsMessage(`$connection:${woh.cidOf(client)}`, 'ws from a'));
    expect((await client.next()).text).toBe('ws from a');
    stream.close();
    await Promise.all([a.stop(), b.stop()]);
  });
});
