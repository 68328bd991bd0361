import net from 'node:net';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { stopAllBackends } from '../support/backend.js';
import {
  closeTrackedStreams,
  openTrackedStream,
  publishOk,
  startPathBackend,
  uniqueName,
} from '../support/grip.js';
import { startRedisServer, stopAllRedisServers } from '../support/redis-server.js';
import { startThumbtack, stopAllThumbtacks, type Thumbtack } from '../support/thumbtack.js';

/*
 * The resume-drops flake (issue 16), made to happen every time: a node on Redis whose
 * pub/sub messages a proxy holds back, so that an item published just before a client's
 * request left is still on its way to the node when it answers the client's resume from
 * history (any node takes its items back from Redis, its own publishes too). The item
 * then reaches the worker after the answer, older than the request: it must still reach
 * the client, once.
 */

const lagMs = 1_000;
const channel = uniqueName('in-flight');
let node: Thumbtack;
let lagging: LaggingProxy;

interface LaggingProxy {
  url: string;
  close(): void;
}

/**
 * A TCP proxy to Redis that delays what Redis sends a connection by `delayMs` once that
 * connection has subscribed: pub/sub messages arrive late, commands (and the node's clock
 * measurement, on its commands connection) do not.
 */
async function startLaggingProxy(port: number, delayMs: number): Promise<LaggingProxy> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = net.connect(port, '127.0.0.1');
    let isSubscriber = false;
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on('error', () => undefined);
      socket.on('close', () => {
        sockets.delete(socket);
        client.destroy();
        upstream.destroy();
      });
    }
    client.on('data', (data) => {
      if (/subscribe/i.test(data.toString('latin1'))) isSubscriber = true;
      upstream.write(data);
    });
    // Timers of one delay fire in the order they were set: the bytes keep their order.
    upstream.on('data', (data) => {
      if (isSubscriber) setTimeout(() => client.write(data), delayMs);
      else client.write(data);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port: proxyPort } = server.address() as net.AddressInfo;
  return {
    url: `redis://127.0.0.1:${proxyPort}`,
    close: () => {
      for (const socket of sockets) socket.destroy();
      server.close();
    },
  };
}

beforeAll(async () => {
  const redis = await startRedisServer();
  lagging = await startLaggingProxy(redis.port, lagMs);
  const backend = await startPathBackend();
  // SSE with sse_resume: the backend names no position, the client's Last-Event-ID does.
  backend.on('/events', (_req, res) => {
    res.writeHead(200, {
      'content-type': 'text/event-stream',
      'grip-hold': 'stream',
      'grip-channel': channel,
    });
    res.end(':open\n\n');
  });
  const routes = `*,sse_resume ${backend.target}\n`;
  node = await startThumbtack({ routes, args: ['--redis', lagging.url, '--log-level', 'debug'] });
}, 60_000);

afterAll(async () => {
  closeTrackedStreams();
  await stopAllThumbtacks();
  lagging.close();
  await stopAllBackends();
  await stopAllRedisServers();
});

function item(n: number): Record<string, unknown> {
  const content = `id: ${n}\ndata: item-${n}\n\n`;
  return {
    channel,
    id: String(n),
    'prev-id': String(n - 1),
    formats: { 'http-stream': { content } },
  };
}

test('an item still on its way through Redis when a resume is answered reaches the resumed client, once', async () => {
  // A listener: the channel is subscribed and its history is live.
  const anchor = await openTrackedStream(`${node.url}/events`);
  await publishOk(node, item(1));
  await anchor.waitForText('id: 1\n');
  await publishOk(node, item(2)); // stored; it reaches the node's history lagMs from now
  const resumed = await openTrackedStream(`${node.url}/events`, {
    headers: { 'last-event-id': '1' },
  });
  await publishOk(node, item(3));
  await resumed.waitForText('id: 3\n', 3 * lagMs + 5_000);
  // The race happened: the node answered the resume before item 2 reached it.
  const answer = node.logs.find((line) => line['event'] === 'channel.resumed');
  expect(answer, `the resume was answered after item 2 arrived (over ${lagMs} ms)`).toMatchObject({
    channel,
    prevId: '1',
    kind: 'after',
    count: 0,
  });
  expect([...resumed.text().matchAll(/^id: (\d+)$/gm)].map((m) => m[1])).toEqual(['2', '3']);
});
