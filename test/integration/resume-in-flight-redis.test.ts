import { afterAll, afterEach, beforeAll, expect, test } from 'vitest';
import { stopAllBackends } from '../support/backend.js';
import {
  closeTrackedStreams,
  openTrackedStream,
  publishOk,
  startPathBackend,
  uniqueName,
} from '../support/grip.js';
import {
  startRedisRelay,
  startRedisServer,
  stopAllRedisServers,
  type RedisRelay,
} from '../support/redis-server.js';
import { startThumbtack, stopAllThumbtacks, type Thumbtack } from '../support/thumbtack.js';
import { closeAllWsClients, connectWs, startWohBackend } from '../support/ws.js';

/*
 * The resume-drops flake (issue 16), made to happen every time: a node on Redis whose
 * pub/sub messages a proxy holds back, so that an item published just before a client's
 * request left is still on its way to the node when it answers the client's resume from
 * history (any node takes its items back from Redis, its own publishes too). The item
 * then reaches the worker after the answer, older than the request: it must still reach
 * the client, once.
 */

const lagMs = 1_000;
/** Bound on waiting for an item (the slowest is held back 5.5 s). */
const itemWaitMs = 15_000;
let node: Thumbtack;
/** Holds back what Redis sends the node's subscribed connection. */
let lagging: RedisRelay;

beforeAll(async () => {
  const redis = await startRedisServer();
  lagging = await startRedisRelay(redis, lagMs);
  const backend = await startPathBackend();
  // SSE with sse_resume: the backend names no position, the client's Last-Event-ID does.
  backend.on('/events', (req, res) => {
    res.writeHead(200, {
      'content-type': 'text/event-stream',
      'grip-hold': 'stream',
      'grip-channel': new URL(req.url!, 'http://backend').searchParams.get('channel')!,
    });
    res.end(':open\n\n');
  });
  // WebSocket-over-HTTP: the subscribe control message names the position, if any.
  const woh = await startWohBackend((ws, req) => {
    if (!ws.isOpening()) return;
    ws.accept();
    const query = new URL(req.url!, 'http://backend').searchParams;
    const subscribe: Record<string, string> = { type: 'subscribe', channel: query.get('channel')! };
    const from = query.get('from');
    if (from !== null) subscribe['prev-id'] = from;
    ws.sendControl(JSON.stringify(subscribe));
  });
  const routes = `*,path_beg=/ws ${woh.target},over_http\n*,sse_resume ${backend.target}\n`;
  node = await startThumbtack({ routes, args: ['--redis', lagging.url, '--log-level', 'debug'] });
}, 60_000);

afterEach(() => {
  lagging.subscriberDelayMs = lagMs;
  closeTrackedStreams();
  closeAllWsClients();
});

afterAll(async () => {
  await stopAllThumbtacks();
  await stopAllBackends();
  await stopAllRedisServers(); // and the relay
});

function item(channel: string, n: number): Record<string, unknown> {
  return {
    channel,
    id: String(n),
    'prev-id': String(n - 1),
    formats: {
      'http-stream': { content: `id: ${n}\ndata: item-${n}\n\n` },
      'ws-message': { content: `item-${n}` },
    },
  };
}

/** A client of one transport: it connects (resuming after `from`), and says what it got. */
interface Transport {
  connect(channel: string, from?: number): Promise<{ waitFor(n: number): Promise<number[]> }>;
}

const sse: Transport = {
  async connect(channel, from) {
    const stream = await openTrackedStream(`${node.url}/events?channel=${channel}`, {
      headers: from === undefined ? {} : { 'last-event-id': String(from) },
    });
    return {
      async waitFor(n) {
        const text = await stream.waitForText(`id: ${n}\n`, itemWaitMs);
        return [...text.matchAll(/^id: (\d+)$/gm)].map((match) => Number(match[1]));
      },
    };
  },
};

const ws: Transport = {
  async connect(channel, from) {
    const query = from === undefined ? '' : `&from=${from}`;
    const client = await connectWs(
      `${node.url.replace(/^http/, 'ws')}/ws?channel=${channel}${query}`,
    );
    const got: number[] = [];
    return {
      async waitFor(n) {
        while (!got.includes(n)) {
          const match = /^item-(\d+)$/.exec((await client.next(itemWaitMs)).text);
          if (match) got.push(Number(match[1]));
        }
        return got;
      },
    };
  },
};

test.each([
  ['SSE (sse_resume)', sse],
  ['WebSocket-over-HTTP', ws],
])(
  '%s: an item still on its way through Redis when a resume is answered reaches the resumed client, once',
  async (_name, transport) => {
    const channel = uniqueName('in-flight');
    // A listener: the channel is subscribed and its history is live.
    const anchor = await transport.connect(channel);
    await publishOk(node, item(channel, 1));
    await anchor.waitFor(1);
    await publishOk(node, item(channel, 2)); // stored; it reaches the node's history lagMs from now
    const resumed = await transport.connect(channel, 1);
    await publishOk(node, item(channel, 3));
    const got = await resumed.waitFor(3);
    // The race happened: the node answered the resume before item 2 reached it.
    const answer = node.logs.find(
      (line) => line['event'] === 'channel.resumed' && line['channel'] === channel,
    );
    expect(answer, `the resume was answered after item 2 arrived (over ${lagMs} ms)`).toMatchObject(
      { prevId: '1', kind: 'after', count: 0 },
    );
    expect(got).toEqual([2, 3]);
  },
);

test('a live item whose pub/sub message reaches the node after more than 5 s still reaches its listeners', async () => {
  const channel = uniqueName('late');
  const listener = await sse.connect(channel);
  await publishOk(node, item(channel, 1));
  await listener.waitFor(1); // subscribed in Redis, and caught up
  // Past the handler's 5 s subscribe-race window, which is for items read back from the
  // stream when subscribing, not for live ones.
  lagging.subscriberDelayMs = 5_500;
  await publishOk(node, item(channel, 2));
  expect(await listener.waitFor(2)).toEqual([1, 2]);
});
