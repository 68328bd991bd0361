import { spawnSync } from 'node:child_process';
import type http from 'node:http';
import { request } from 'undici';
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import * as zmq from 'zeromq';
import type { WebSocketContext } from '@fanoutio/grip';
import { stopAllBackends } from '../support/backend.js';
import { waitForSubscribed } from '../support/channel-events.js';
import {
  openStream,
  publish,
  publishOk,
  startPathBackend,
  streamItem,
  uniqueName,
  type PathBackend,
} from '../support/grip.js';
import { closeAllHeldClients, openHeldClient } from '../support/held-client.js';
import {
  startRedisCluster,
  startRedisRelay,
  startRedisServer,
  stopAllRedisServers,
  type RedisServer,
} from '../support/redis-server.js';
import {
  childPid,
  runThumbtackToExit,
  startThumbtack,
  stopAllThumbtacks,
  type Thumbtack,
  waitForRestart,
  waitUntil,
} from '../support/thumbtack.js';
import { closeAllWsClients, connectWs, startWohBackend, type WohBackend } from '../support/ws.js';

/*
 * Many nodes through one Redis: separate runners (their own ports, handlers and workers)
 * with --redis. A publish taken by any node reaches the clients of every node, in one
 * order; a backend that publishes through another node right after answering a hold still
 * reaches it; a Redis outage refuses publishes with 503 and delivery resumes by itself.
 */

let redis: RedisServer;
let backend: PathBackend;
let woh: WohBackend;

function wohScenario(ws: WebSocketContext, req: http.IncomingMessage): void {
  if (!ws.isOpening()) return;
  ws.accept();
  const channel = new URL(req.url ?? '/', 'http://backend').searchParams.get('ch');
  if (channel) ws.subscribe(channel);
}

async function startNode(extra: string[] = []): Promise<Thumbtack> {
  return startThumbtack({
    routes: `*,path_beg=/ws ${woh.target},over_http\n* ${backend.target}\n`,
    args: ['--redis', redis.url, '--log-level', 'debug', ...extra],
  });
}

/** Answers with a hold on the request's `?ch=` channel; returns the channel. */
function hold(
  req: http.IncomingMessage,
  res: http.ServerResponse,
  kind: 'stream' | 'response',
): string {
  const channel = new URL(req.url!, 'http://backend').searchParams.get('ch')!;
  res.writeHead(200, {
    'content-type': 'text/plain',
    'grip-hold': kind,
    'grip-channel': channel,
    ...(kind === 'response' ? { 'grip-timeout': '20' } : {}),
  });
  res.end(kind === 'stream' ? 'open\n' : 'timed out\n');
  return channel;
}

beforeAll(async () => {
  redis = await startRedisServer();
  backend = await startPathBackend();
  backend.on('/stream', (req, res) => hold(req, res, 'stream'));
  backend.on('/poll', (req, res) => hold(req, res, 'response'));
  woh = await startWohBackend(wohScenario);
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

function item(channel: string, n: number): Record<string, unknown> {
  return {
    channel,
    formats: {
      'http-stream': { content: `item-${n}\n` },
      'http-response': { body: `item-${n}\n` },
      'ws-message': { content: `item-${n}` },
    },
  };
}

function expected(from: number, to: number, separator: string): string {
  const out: string[] = [];
  for (let n = from; n <= to; n++) out.push(`item-${n}`);
  return out.join(separator);
}

describe('three nodes and one Redis', () => {
  const nodes: Thumbtack[] = [];
  let push: zmq.Push;

  beforeAll(async () => {
    nodes.push(await startNode(), await startNode(), await startNode());
    push = new zmq.Push({ linger: 0 });
    push.connect(nodes[0]!.zmqPull);
  });

  afterAll(() => push.close());

  test('items published on node A over HTTP and ZeroMQ reach SSE, long-poll and WebSocket clients on B and C, in order', async () => {
    const channel = uniqueName('nodes');
    const [, b, c] = nodes as [Thumbtack, Thumbtack, Thumbtack];
    const clients = [];
    for (const node of [b, c]) {
      const stream = await openStream(`${node.url}/stream?ch=${channel}`);
      const poll = openHeldClient(`${node.url}/poll?ch=${channel}`);
      const ws = await connectWs(`${node.url.replace(/^http/, 'ws')}/ws?ch=${channel}`);
      clients.push({ stream, poll, ws });
      await waitForSubscribed(node, channel);
    }
    for (let n = 1; n <= 20; n++) await publishOk(nodes[0]!, item(channel, n));
    for (let n = 21; n <= 40; n++) await push.send('J' + JSON.stringify(item(channel, n)));

    for (const { stream, poll, ws } of clients) {
      await stream.waitForText('item-40\n', 10_000);
      expect(stream.text()).toBe(`open\n${expected(1, 40, '\n')}\n`);
      await poll.closed;
      expect(poll.text()).toBe('item-1\n');
      const texts: string[] = [];
      for (let n = 1; n <= 40; n++) texts.push((await ws.next(10_000)).text);
      expect(texts.join(',')).toBe(expected(1, 40, ','));
    }
  });

  test('an item id published on two nodes is delivered once, on every node', async () => {
    const [a, b, c] = nodes as [Thumbtack, Thumbtack, Thumbtack];
    const channel = uniqueName('dedupe');
    const stream = await openStream(`${c.url}/stream?ch=${channel}`);
    await waitForSubscribed(c, channel);
    await publishOk(a, streamItem(channel, 'once\n', { id: 'x1' }));
    await publishOk(b, streamItem(channel, 'once\n', { id: 'x1' }));
    await publishOk(b, streamItem(channel, 'next\n', { id: 'x2' }));
    await stream.waitForText('next\n');
    expect(stream.text()).toBe('open\nonce\nnext\n');
    // Node C listens in Redis while it holds the channel, and leaves with its last client.
    const listening = (): string =>
      spawnSync(
        'redis-cli',
        ['-p', String(redis.port), 'pubsub', 'channels', `thumbtack:{${channel}}`],
        {
          encoding: 'utf8',
        },
      ).stdout.trim();
    expect(listening()).toBe(`thumbtack:{${channel}}`);
    stream.close();
    await waitUntil(() => listening() === '');
  });

  test("killing one node's handler and worker does not disturb the others", async () => {
    const [a, b, c] = nodes as [Thumbtack, Thumbtack, Thumbtack];
    const channel = uniqueName('isolation');
    const stream = await openStream(`${b.url}/stream?ch=${channel}`);
    await waitForSubscribed(b, channel);
    const handlerPid = childPid(c, 'handler')!;
    const workerPid = childPid(c, 'proxy-0')!;
    process.kill(handlerPid, 'SIGKILL');
    process.kill(workerPid, 'SIGKILL');
    for (let n = 1; n <= 20; n++) await publishOk(a, streamItem(channel, `item-${n}\n`));
    await stream.waitForText('item-20\n');
    expect(stream.text()).toBe(`open\n${expected(1, 20, '\n')}\n`);
    stream.close();
    // Node C comes back by itself and serves again.
    await waitForRestart(c, 'handler', handlerPid);
    await waitForRestart(c, 'proxy-0', workerPid);
    await c.waitForLog((line) => line.msg === 'handler ready' && line.pid !== handlerPid);
    await c.waitForLog((line) => line.msg === 'proxy ready' && line.pid !== workerPid);
  });

  test("a node's restarted handler reads the channel back from Redis without repeating what its clients had", async () => {
    const [a, b] = nodes as [Thumbtack, Thumbtack];
    const channel = uniqueName('restart');
    const stream = await openStream(`${b.url}/stream?ch=${channel}`);
    await waitForSubscribed(b, channel);
    await publishOk(a, streamItem(channel, 'before\n', { id: 'r1' }));
    await stream.waitForText('before\n');
    const handlerPid = childPid(b, 'handler')!;
    const linesBefore = b.logs.length;
    process.kill(handlerPid, 'SIGKILL');
    await waitForRestart(b, 'handler', handlerPid);
    // The worker resubscribes on the new handler, which reads the channel's stream again.
    await waitForSubscribed(b, channel, { since: linesBefore });
    await publishOk(a, streamItem(channel, 'after\n', { id: 'r2' }));
    await stream.waitForText('after\n');
    expect(stream.text()).toBe('open\nbefore\nafter\n');
    stream.close();
  });

  test('the control port says the node runs with Redis and is connected', async () => {
    const res = await request(`${nodes[1]!.controlUrl}/status.json`);
    expect(res.statusCode).toBe(200);
    expect(await res.body.json()).toMatchObject({ mode: 'redis', redis: { connected: true } });
  });

  test('the subscribe race across nodes: 400 clients on B whose backend publishes through A right after answering all get their item', async () => {
    const [a, b] = nodes as [Thumbtack, Thumbtack];
    const prefix = uniqueName('race');
    const failures: string[] = [];
    backend.on('/race', (req, res) => {
      const channel = hold(req, res, 'response');
      res.on('finish', () => {
        publish(a, [item(channel, 1)]).then(
          (result) => {
            if (result.status !== 200) failures.push(`${result.status} ${result.text}`);
          },
          (err: unknown) => failures.push(String(err)),
        );
      });
    });
    const clients = [];
    for (let i = 0; i < 400; i++) {
      clients.push(openHeldClient(`${b.url}/race?ch=${prefix}-${i}`));
    }
    await Promise.all(clients.map((client) => client.closed));
    expect(failures).toEqual([]);
    const wrong = clients.map((client) => client.text()).filter((text) => text !== 'item-1\n');
    expect(wrong).toEqual([]);
  });
});

describe('a Redis outage', () => {
  test('publishes get 503 while Redis is down; when it is back, every node resubscribes and delivery resumes without a client reconnecting', async () => {
    const outage = await startRedisServer();
    const start = (): Promise<Thumbtack> =>
      startThumbtack({
        routes: `* ${backend.target}\n`,
        args: ['--redis', outage.url, '--log-level', 'debug'],
      });
    const a = await start();
    const b = await start();
    const channel = uniqueName('outage');
    const stream = await openStream(`${b.url}/stream?ch=${channel}`);
    await waitForSubscribed(b, channel);
    await publishOk(a, streamItem(channel, 'before\n'));
    await stream.waitForText('before\n');

    await outage.kill();
    await a.waitForLog((line) => String(line.msg).startsWith('Redis unreachable'));
    const refused = await publish(a, [streamItem(channel, 'lost\n')]);
    expect(refused.status).toBe(503);
    expect(refused.text).toMatch(/Redis did not take the publish/);
    const ready = await request(`${a.controlUrl}/readyz`);
    expect(ready.statusCode).toBe(503);
    expect(await ready.body.text()).toMatch(/Redis is unreachable/);

    await outage.restart();
    await b.waitForLog((line) => String(line.msg).startsWith('Redis reachable again'), 15_000);
    await a.waitForLog((line) => String(line.msg).startsWith('Redis reachable again'), 15_000);
    // The subscription is renewed before the catch-up read; a publish after both arrives.
    const status = async (): Promise<boolean> => {
      const res = await request(`${b.controlUrl}/status.json`);
      return ((await res.body.json()) as { redis: { connected: boolean } }).redis.connected;
    };
    expect(await status()).toBe(true);
    await publishOk(a, streamItem(channel, 'after\n'));
    await stream.waitForText('after\n', 10_000);
    expect(stream.text()).toBe('open\nbefore\nafter\n');
    const outageLines = a.logs.filter((line) => String(line.msg).startsWith('Redis unreachable'));
    expect(outageLines).toHaveLength(1);
  });
});

describe('a node cut off from Redis', () => {
  test('gets what was published meanwhile once it is back, in order, however long it was away, without a client reconnecting', async () => {
    const a = await startNode();
    const relay = await startRedisRelay(redis);
    const b = await startThumbtack({
      routes: `* ${backend.target}\n`,
      args: ['--redis', relay.url, '--log-level', 'debug'],
    });
    const channel = uniqueName('partition');
    const stream = await openStream(`${b.url}/stream?ch=${channel}`);
    await waitForSubscribed(b, channel);
    await publishOk(a, streamItem(channel, 'before\n'));
    await stream.waitForText('before\n');

    relay.cut();
    await b.waitForLog((line) => String(line.msg).startsWith('Redis unreachable'));
    await publishOk(a, streamItem(channel, 'missed-1\n'));
    await publishOk(a, streamItem(channel, 'missed-2\n'));
    // Longer than the subscribe race (5 s): items read back older than that used to go to
    // history only. The wait is the subject of the test, not a guess at a duration.
    await new Promise((resolve) => setTimeout(resolve, 5_500));
    relay.restore();
    await b.waitForLog((line) => String(line.msg).startsWith('Redis reachable again'), 15_000);
    await publishOk(a, streamItem(channel, 'after\n'));
    await stream.waitForText('after\n', 10_000);
    expect(stream.text()).toBe('open\nbefore\nmissed-1\nmissed-2\nafter\n');
  }, 40_000);
});

describe('a Redis Cluster', () => {
  // Three redis-servers joined into a cluster and two runners of three processes each, on a
  // machine that may be running the rest of the suite: a bound for that, still finite.
  test(
    'with three masters, items on channels spread over the shards reach clients of the other node, in order, through sharded pub/sub',
    { timeout: 60_000 },
    async () => {
      const cluster = await startRedisCluster();
      try {
        const start = (): Promise<Thumbtack> =>
          startThumbtack({
            routes: `* ${backend.target}\n`,
            args: ['--redis-cluster', cluster.seeds, '--log-level', 'debug'],
          });
        const [a, b] = await Promise.all([start(), start()]);
        const status = await request(`${b.controlUrl}/status.json`);
        expect(await status.body.json()).toMatchObject({
          mode: 'redis-cluster',
          redis: { connected: true },
        });
        // Eight channels land on different slots, so on all three shards.
        const channels = Array.from({ length: 8 }, (_, i) => uniqueName(`shard${i}`));
        const streams = [];
        for (const channel of channels) {
          streams.push(await openStream(`${b.url}/stream?ch=${channel}`));
          await waitForSubscribed(b, channel);
        }
        // Sharded pub/sub: each shard holds the subscriptions of its own channels.
        const shardCounts = (): number[] =>
          cluster.ports.map(
            (port) =>
              spawnSync(
                'redis-cli',
                ['-p', String(port), 'pubsub', 'shardchannels', 'thumbtack:*'],
                {
                  encoding: 'utf8',
                },
              )
                .stdout.split('\n')
                // Every node also listens for items addressed to one connection
                // (`{$connection}`) and for answers to its receipts (`{$reply}:<node>`).
                .filter((name) => name !== '' && !name.startsWith('thumbtack:{$')).length,
          );
        // The Redis subscriptions follow the bus's, a moment later.
        await waitUntil(() => shardCounts().reduce((sum, n) => sum + n, 0) === channels.length);
        const perShard = shardCounts();
        expect(perShard.reduce((sum, n) => sum + n, 0)).toBe(channels.length);
        expect(perShard.filter((n) => n > 0).length).toBeGreaterThan(1);
        for (let n = 1; n <= 10; n++) {
          for (const channel of channels) await publishOk(a, streamItem(channel, `item-${n}\n`));
        }
        for (const stream of streams) {
          await stream.waitForText('item-10\n', 10_000);
          expect(stream.text()).toBe(`open\n${expected(1, 10, '\n')}\n`);
        }
        await a.stop();
        await b.stop();
      } finally {
        await cluster.stop();
      }
    },
  );
});

describe('bad Redis settings', () => {
  test('an unreachable Redis, a bad URL and a wrong password each stop the start with exit 2 and one line naming --redis', async () => {
    const secured = await startRedisServer(['--requirepass', 'right']);
    const unused = await startRedisServer();
    const unusedUrl = unused.url;
    await unused.stop();
    const cases: [string[], RegExp][] = [
      [
        ['--redis', unusedUrl],
        /--redis redis:\/\/127\.0\.0\.1:\d+\/?: cannot use Redis: .*ECONNREFUSED/,
      ],
      [
        ['--redis', 'http://127.0.0.1:1'],
        /--redis: bad value "http:\/\/127\.0\.0\.1:1"; allowed: redis:\/\//,
      ],
      [
        ['--redis', `redis://:wrong@127.0.0.1:${secured.port}`],
        /--redis redis:\/\/:\*\*\*@127\.0\.0\.1:\d+\/?: cannot use Redis: WRONGPASS/,
      ],
      [['--redis-cluster', 'nohostport'], /--redis-cluster: bad value "nohostport"/],
    ];
    for (const [args, message] of cases) {
      const result = await runThumbtackToExit(args);
      expect(result.code, result.stderr).toBe(2);
      expect(result.stderr).toMatch(message);
      expect(result.stderr.trim().split('\n')).toHaveLength(1);
    }
  });
});
