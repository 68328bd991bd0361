import type http from 'node:http';
import { request } from 'undici';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { stopAllBackends } from '../support/backend.js';
import {
  closeTrackedStreams,
  openTrackedStream,
  startPathBackend,
  streamItem,
  uniqueName,
  type PathBackend,
  type StreamClient,
} from '../support/grip.js';
import { publishAsked, waitForNodes } from '../support/receipts.js';
import { startRedisServer, stopAllRedisServers } from '../support/redis-server.js';
import {
  busReady,
  startThumbtack,
  stopAllThumbtacks,
  type Thumbtack,
} from '../support/thumbtack.js';
import { closeAllWsClients, connectWs, startWohBackend, type WohBackend } from '../support/ws.js';

/*
 * Receipts, acknowledged push and deliver-to-one across two nodes sharing one Redis: the
 * node that takes the publish gathers every node's answer (Redis says how many nodes got
 * the item), a client's ack reaches the asking node from any node, and deliver-to-one
 * takes the listeners of every node in turn. One pair of nodes serves the three features.
 */

let backend: PathBackend;
let woh: WohBackend;
let a: Thumbtack;
let b: Thumbtack;

beforeAll(async () => {
  backend = await startPathBackend();
  backend.on('/stream', (req: http.IncomingMessage, res: http.ServerResponse) => {
    const url = new URL(req.url!, 'http://backend');
    const user = url.searchParams.get('user')!;
    res.writeHead(200, {
      'content-type': 'text/plain',
      'grip-hold': 'stream',
      'grip-channel': `${url.searchParams.get('ch')!}; filter=skip-users`,
      'grip-set-meta': `user="${user}"`,
    });
    res.end('open\n');
  });
  woh = await startWohBackend((ws) => {
    if (ws.isOpening()) ws.accept();
  });
  const redis = await startRedisServer();
  const routes = `*,path_beg=/woh ${woh.target},over_http\n* ${backend.target}\n`;
  const args = ['--redis', redis.url];
  const start = (): Promise<Thumbtack> => startThumbtack({ routes, args, readyTimeoutMs: 50_000 });
  [a, b] = await Promise.all([start(), start()]);
  await Promise.all([busReady(a), busReady(b)]);
}, 60_000); // two nodes and Redis, beside other test files on two busy cores

afterEach(() => {
  closeTrackedStreams();
  closeAllWsClients();
});

afterAll(async () => {
  await stopAllThumbtacks();
  await stopAllBackends();
  await stopAllRedisServers();
});

/** A stream on `channel` held by `node` for `user`, and the Connection-Id its backend saw. */
async function listen(
  node: Thumbtack,
  channel: string,
  user: string,
): Promise<[StreamClient, string]> {
  const seen = backend.requestsTo('/stream').length;
  const stream = await openTrackedStream(`${node.url}/stream?ch=${channel}&user=${user}`);
  await stream.waitForText('open\n');
  const requests = await backend.waitForRequests('/stream', seen + 1);
  const mine = requests.slice(seen).find((req) => req.url!.includes(`user=${user}`))!;
  return [stream, String(mine.headers['connection-id'])];
}

function wsPush(cid: string, id: string, content: string): unknown {
  return { channel: `$connection:${cid}`, id, formats: { 'ws-message': { content } } };
}

describe('receipts across nodes', () => {
  it('sum every node’s workers, say how many nodes answered, and find a connection on another node', async () => {
    const channel = uniqueName('rn');
    const [onA] = await listen(a, channel, 'ann');
    const [onB, idOnB] = await listen(b, channel, 'bob');
    // Stream holds ignore a ws-message-only item: a probe for both nodes' subscriptions.
    await waitForNodes(a, { channel, formats: { 'ws-message': { content: 'p' } } }, 2);

    const item = streamItem(channel, 'both\n', { meta: { skip_users: 'bob' } });
    const result = await publishAsked(a, 'receipt', [item]);
    expect(result.status).toBe(200);
    expect(result.items[0]).toEqual({
      channel,
      listeners: 2,
      written: 1,
      dropped: { filter: 1 },
      workers: { answered: 2, asked: 2 },
      nodes: { answered: 2, asked: 2 },
    });
    await onA.waitForText('both\n');

    const direct = await publishAsked(a, 'receipt', [streamItem(`$connection:${idOnB}`, 'b\n')]);
    expect(direct.status).toBe(200);
    expect(direct.items[0]).toMatchObject({ listeners: 1, written: 1, nodes: { answered: 2 } });
    expect(await onB.waitForText('b\n')).toBe('open\nb\n');
    const missing = await publishAsked(a, 'receipt', [streamItem('$connection:none', 'x')]);
    expect(missing.status).toBe(404);
    expect(missing.items[0]).toMatchObject({ listeners: 0, nodes: { answered: 2, asked: 2 } });
  });
});

describe('acknowledged push across nodes', () => {
  it('reaches a client on another node and takes its ack, by frame and over HTTP on the other node', async () => {
    const client = await connectWs(`${b.url.replace('http', 'ws')}/woh`);
    const cid = woh.cidOf(client);
    const byFrame = publishAsked(a, 'ack=5', [wsPush(cid, 'r1', 'one')]);
    expect((await client.next()).text).toBe('one');
    client.socket.send(JSON.stringify({ 'thumbtack-ack': 'r1' }));
    expect((await byFrame).status).toBe(200);
    expect((await byFrame).items[0]).toMatchObject({
      written: 1,
      nodes: { answered: 2, asked: 2 },
    });

    const overHttp = publishAsked(a, 'ack=5', [wsPush(cid, 'r2', 'two')]);
    expect((await client.next()).text).toBe('two');
    // Posted to node A, which does not hold the connection: passed on through Redis.
    const ack = await request(`${a.url}/_thumbtack/ack/${cid}/r2`, { method: 'POST' });
    await ack.body.dump();
    expect(ack.statusCode).toBe(204);
    expect((await overHttp).status).toBe(200);

    const unanswered = await publishAsked(a, 'ack=0.3', [wsPush(cid, 'r3', 'three')]);
    expect(unanswered.status).toBe(408);
  });
});

describe('deliver to one across nodes', () => {
  it('takes the listeners of both nodes in turn', async () => {
    const channel = uniqueName('anyr');
    const held: StreamClient[] = [];
    for (const [index, node] of [a, b, a, b].entries()) {
      held.push((await listen(node, channel, `u${index}`))[0]);
    }
    const picked: string[] = [];
    for (let n = 1; n <= 4; n++) {
      const result = await publishAsked(a, 'one', [streamItem(channel, `item-${n}\n`)]);
      expect(result.status).toBe(200);
      picked.push(result.items[0]!.connection!);
    }
    expect(new Set(picked).size).toBe(4);
    const itemsOf = (stream: StreamClient): string[] =>
      stream
        .text()
        .split('\n')
        .filter((line) => line.startsWith('item-'));
    await expect.poll(() => held.flatMap(itemsOf).length).toBe(4);
    for (const stream of held) expect(itemsOf(stream)).toHaveLength(1);
  });
});
