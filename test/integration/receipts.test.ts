import type http from 'node:http';
import { request } from 'undici';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { WebSocketServer } from 'ws';
import { stopAllBackends } from '../support/backend.js';
import {
  closeTrackedStreams,
  openTrackedStream as openStream,
  publish,
  publishOk,
  startPathBackend,
  streamItem,
  uniqueName,
  type PathBackend,
  type StreamClient,
} from '../support/grip.js';
import { closeAllHeldClients } from '../support/held-client.js';
import { publishAsked } from '../support/receipts.js';
import {
  busReady,
  startThumbtack,
  stopAllThumbtacks,
  type Thumbtack,
} from '../support/thumbtack.js';
import {
  closeAllWsClients,
  connectWs,
  startWohBackend,
  type WohBackend,
  type WsTestClient,
} from '../support/ws.js';

/*
 * Delivery receipts: `POST /publish/?receipt` answers, per item, how many connections
 * listened, how many it was written to and why the others were dropped, once every worker
 * (and with Redis every node that got the item) has told. A receipt for one connection
 * answers 404 when no connection has the id. A plain publish is answered as before.
 *
 * Acknowledged push (Pushca's contract): `POST /publish/?ack=S` to one connection answers
 * 200 once the client acknowledged the item, 408 when it did not within S seconds. A
 * WebSocket client acknowledges with the text frame {"thumbtack-ack":"<item id>"}, which
 * thumbtack consumes; an HTTP client with POST /_thumbtack/ack/<connection id>/<item id>,
 * on any worker or node. An ack nobody waits for is counted and ignored.
 *
 * Deliver to one of many (Pushca's findAny): `POST /publish/?one` sends each item to one
 * of its channel's listeners, taking them in turn over successive publishes, whichever
 * worker or node holds them. Pushca's `exclude` is GRIP's skip-users filter.
 *
 * All three share one two-worker instance (one start-up instead of three); every test
 * holds its own channels and connection ids, so none sees another's items.
 */

let backend: PathBackend;
/** A passthrough WebSocket backend: what its sockets received, by Connection-Id. */
let passthrough: WebSocketServer;
const passthroughSeen = new Map<string, string[]>();
let woh: WohBackend;
let tt: Thumbtack;

/** Holds a stream on `?ch=`; `?user=` sets the subscriber's user and a skip-users filter. */
function holdStream(req: http.IncomingMessage, res: http.ServerResponse): void {
  const url = new URL(req.url!, 'http://backend');
  const user = url.searchParams.get('user');
  res.writeHead(200, {
    'content-type': 'text/plain',
    'grip-hold': 'stream',
    'grip-channel': `${url.searchParams.get('ch')!}${user ? '; filter=skip-users' : ''}`,
    ...(user ? { 'grip-set-meta': `user="${user}"` } : {}),
  });
  res.end('open\n');
}

/** Starting thumbtack beside other test files on two busy cores can take past 20 s. */
const startupTimeoutMs = 60_000;
const routes = (): string => {
  const { port } = passthrough.address() as { port: number };
  return `*,path_beg=/woh ${woh.target},over_http\n*,path_beg=/pass 127.0.0.1:${port}\n* ${backend.target}\n`;
};

beforeAll(async () => {
  backend = await startPathBackend();
  backend.on('/stream', holdStream);
  woh = await startWohBackend((ws) => {
    if (ws.isOpening()) ws.accept();
  });
  passthrough = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  passthrough.on('connection', (socket, req) => {
    const seen: string[] = [];
    passthroughSeen.set(String(req.headers['connection-id']), seen);
    socket.on('message', (data: Buffer) => seen.push(data.toString()));
  });
  await new Promise((resolve) => passthrough.once('listening', resolve));
  tt = await startThumbtack({ routes: routes(), workers: 2, readyTimeoutMs: 50_000 });
  await busReady(tt, 2);
}, startupTimeoutMs);

afterEach(() => {
  closeAllHeldClients();
  closeAllWsClients();
  closeTrackedStreams();
});

afterAll(async () => {
  await stopAllThumbtacks();
  await stopAllBackends();
  passthrough.close();
});

async function connectionIdOf(count: number): Promise<string> {
  const requests = await backend.waitForRequests('/stream', count);
  return String(requests[count - 1]!.headers['connection-id']);
}

const wsUrl = (tt: Thumbtack): string => `${tt.url.replace('http', 'ws')}/woh`;

function wsPush(cid: string, id: string, content: string): unknown {
  return { channel: `$connection:${cid}`, id, formats: { 'ws-message': { content } } };
}

/** Publishes with `?ack=`, then acknowledges once the client has the item. */
async function pushAndAck(
  tt: Thumbtack,
  item: unknown,
  ackSeconds: number,
  acknowledge: () => Promise<void>,
): Promise<Awaited<ReturnType<typeof publishAsked>>> {
  const answer = publishAsked(tt, `ack=${ackSeconds}`, [item]);
  await acknowledge();
  return answer;
}

async function clientAcks(tt: Thumbtack): Promise<string> {
  const res = await request(`${tt.controlUrl}/metrics`);
  const text = await res.body.text();
  return text
    .split('\n')
    .filter((line) => line.startsWith('thumbtack_client_acks_total{'))
    .join('\n');
}

async function ackOverHttp(tt: Thumbtack, cid: string, item: string): Promise<number> {
  const res = await request(`${tt.url}/_thumbtack/ack/${cid}/${encodeURIComponent(item)}`, {
    method: 'POST',
    reset: true, // a new connection each time: acks land on either worker
  });
  await res.body.dump();
  return res.statusCode;
}

async function openListeners(nodes: Thumbtack[], channel: string): Promise<StreamClient[]> {
  const streams: StreamClient[] = [];
  for (const [index, node] of nodes.entries()) {
    const stream = await openStream(`${node.url}/stream?ch=${channel}&user=u${index}`);
    await stream.waitForText('open\n');
    streams.push(stream);
  }
  return streams;
}

/** Publishes `count` numbered items with `?one`; returns the connection each went to. */
async function publishToOne(tt: Thumbtack, channel: string, count: number): Promise<string[]> {
  const picked: string[] = [];
  for (let n = 1; n <= count; n++) {
    const result = await publishAsked(tt, 'one', [streamItem(channel, `item-${n}\n`)]);
    expect(result.status).toBe(200);
    picked.push(result.items[0]!.connection!);
  }
  return picked;
}

function itemsOf(stream: StreamClient): string[] {
  return stream
    .text()
    .split('\n')
    .filter((line) => line.startsWith('item-'));
}

describe('receipts on one node', () => {
  it('counts listeners, writes and drops by reason over both workers', async () => {
    const channel = uniqueName('rc');
    const streams = [];
    for (const user of ['', '', 'alice']) {
      const stream = await openStream(`${tt.url}/stream?ch=${channel}&user=${user}`);
      await stream.waitForText('open\n');
      streams.push(stream);
    }
    const item = streamItem(channel, 'hi\n', { meta: { skip_users: 'alice' } });
    const result = await publishAsked(tt, 'receipt', [item]);
    expect(result.status).toBe(200);
    expect(result.items).toEqual([
      {
        channel,
        listeners: 3,
        written: 2,
        dropped: { filter: 1 },
        workers: { answered: 2, asked: 2 },
      },
    ]);
    for (const stream of streams.slice(0, 2)) await stream.waitForText('hi\n');
    expect(streams[2]!.text()).toBe('open\n');

    const nobody = await publishAsked(tt, 'receipt=true&timeout=0.5', [
      streamItem(uniqueName('none'), 'x\n'),
    ]);
    expect(nobody.status).toBe(200);
    expect(nobody.items[0]).toMatchObject({ listeners: 0, written: 0, dropped: {} });
    const plain = await publish(tt, [streamItem(channel, 'plain\n')]);
    expect(plain).toEqual({ status: 200, text: 'Published\n' });
  });

  it('answers a receipt for one connection with 200 when written and 404 when no connection has the id', async () => {
    const seen = backend.requestsTo('/stream').length;
    const stream = await openStream(`${tt.url}/stream?ch=${uniqueName('own')}`);
    await stream.waitForText('open\n');
    const id = await connectionIdOf(seen + 1);
    const written = await publishAsked(tt, 'receipt', [streamItem(`$connection:${id}`, 'you\n')]);
    expect(written.status).toBe(200);
    expect(written.items[0]).toMatchObject({ listeners: 1, written: 1 });
    await stream.waitForText('you\n');
    const missing = await publishAsked(tt, 'receipt', [streamItem('$connection:nobody', 'x\n')]);
    expect(missing.status).toBe(404);
    expect(missing.items[0]).toMatchObject({ listeners: 0, written: 0 });
    expect((await publish(tt, [streamItem('$connection:nobody', 'x\n')])).status).toBe(200);
  });

  it('refuses bad receipt parameters with 400 naming the field, and delivers nothing of them', async () => {
    const channel = uniqueName('bad');
    const stream = await openStream(`${tt.url}/stream?ch=${channel}`);
    await stream.waitForText('open\n');
    const item = streamItem(channel, 'refused\n', { id: 'r1' });
    const cases: [string, string][] = [
      ['receipt&timeout=abc', '"timeout"'],
      ['receipt&timeout=99', '"timeout"'],
      ['receipt&timeout=', '"timeout"'],
      ['timeout=1', '"timeout"'],
      ['receipt=maybe', '"receipt"'],
      ['ack=5', '"ack"'],
      ['ack=0', '"ack"'],
      ['one&ack=x', '"ack"'],
    ];
    for (const [query, field] of cases) {
      const result = await publishAsked(tt, query, [item]);
      expect([query, result.status]).toEqual([query, 400]);
      expect(result.text).toContain(field);
    }
    const noId = await publishAsked(tt, 'ack=5', [streamItem('$connection:x', 'y')]);
    expect(noId.status).toBe(400);
    expect(noId.text).toContain('"id"');
    const oneToOne = await publishAsked(tt, 'one', [streamItem('$connection:x', 'y')]);
    expect(oneToOne.status).toBe(400);
    expect(oneToOne.text).toContain('"one"');
    await publishOk(tt, streamItem(channel, 'after\n'));
    expect(await stream.waitForText('after\n')).toBe('open\nafter\n');
  });
});

describe('acknowledged push on one node', () => {
  it('answers 200 once a WebSocket client acks with its frame, which never reaches the backend', async () => {
    const client: WsTestClient = await connectWs(wsUrl(tt));
    const cid = woh.cidOf(client);
    const result = await pushAndAck(tt, wsPush(cid, 'm1', 'hello'), 5, async () => {
      expect((await client.next()).text).toBe('hello');
      client.socket.send(JSON.stringify({ 'thumbtack-ack': 'm1' }));
    });
    expect(result.status).toBe(200);
    expect(result.message).toBe('Acknowledged');
    expect(result.items[0]).toMatchObject({ listeners: 1, written: 1, acknowledged: true });
    client.socket.send('after the ack');
    await woh.waitForCall((call) =>
      call.events.some((e) => e.content?.toString() === 'after the ack'),
    );
    const forwarded = woh.calls
      .flatMap((call) => call.events)
      .filter((e) => e.content?.includes('thumbtack-ack'));
    expect(forwarded).toEqual([]);
  });

  it('consumes the ack frame of a passthrough WebSocket too', async () => {
    const client = await connectWs(`${tt.url.replace('http', 'ws')}/pass`);
    await expect.poll(() => passthroughSeen.size).toBeGreaterThan(0);
    const [cid, seen] = [...passthroughSeen].at(-1)!;
    const result = await pushAndAck(tt, wsPush(cid, 'p1', 'to pass'), 5, async () => {
      expect((await client.next()).text).toBe('to pass');
      client.socket.send(JSON.stringify({ 'thumbtack-ack': 'p1' }));
      client.socket.send('after');
    });
    expect(result.status).toBe(200);
    await expect.poll(() => seen).toEqual(['after']);
  });

  it('answers 408 when the client does not ack in time, and counts acks nobody waits for', async () => {
    const client = await connectWs(wsUrl(tt));
    const cid = woh.cidOf(client);
    const result = await publishAsked(tt, 'ack=0.3', [wsPush(cid, 'm2', 'ignored')]);
    expect(result.status).toBe(408);
    expect(result.items[0]).toMatchObject({ written: 1, acknowledged: false });
    client.socket.send(JSON.stringify({ 'thumbtack-ack': 'never-sent' }));
    client.socket.send('{"thumbtack-ack":42}');
    await expect
      .poll(() => clientAcks(tt), { timeout: 5_000 })
      .toContain('thumbtack_client_acks_total{outcome="unknown"} 2');
    const missing = await publishAsked(tt, 'ack=1', [wsPush('nobody', 'm3', 'x')]);
    expect(missing.status).toBe(404);
  });

  it('takes an SSE client’s ack over HTTP on whichever worker the request lands', async () => {
    const seen = backend.requestsTo('/stream').length;
    const stream = await openStream(`${tt.url}/stream?ch=${uniqueName('acks')}`);
    await stream.waitForText('open\n');
    const requests = await backend.waitForRequests('/stream', seen + 1);
    const cid = String(requests[seen]!.headers['connection-id']);
    for (const id of ['s1', 's/2', 's3']) {
      const item = streamItem(`$connection:${cid}`, `${id}\n`, { id });
      // Several acks: each lands on either worker (SO_REUSEPORT), so both ways are taken.
      const result = await pushAndAck(tt, item, 5, async () => {
        await stream.waitForText(`${id}\n`);
        expect(await ackOverHttp(tt, cid, id)).toBe(204);
      });
      expect([id, result.status]).toEqual([id, 200]);
    }
    expect(await ackOverHttp(tt, cid, 'unknown')).toBe(204);
    const bad = await request(`${tt.url}/_thumbtack/ack/only-one-part`, { method: 'POST' });
    expect(bad.statusCode).toBe(400);
    await bad.body.dump();
  });
});

describe('deliver to one on one node', () => {
  it('takes the listeners in turn over both workers, each item to exactly one', async () => {
    const channel = uniqueName('any');
    const streams = await openListeners([tt, tt, tt], channel);
    const picked = await publishToOne(tt, channel, 6);
    expect(new Set(picked.slice(0, 3)).size).toBe(3);
    expect(picked.slice(3)).toEqual(picked.slice(0, 3));
    await Promise.all(streams.map((stream) => stream.waitForText('item-', 5_000)));
    await expect.poll(() => streams.flatMap(itemsOf).length).toBe(6);
    for (const stream of streams) expect(itemsOf(stream)).toHaveLength(2);

    const withReceipt = await publishAsked(tt, 'one&receipt', [streamItem(channel, 'item-7\n')]);
    expect(withReceipt.items[0]).toMatchObject({ listeners: 1, written: 1 });
    expect(withReceipt.items[0]!.connection).toBe(picked[0]);
  });

  it('answers 404 when the channel has no listener', async () => {
    const result = await publishAsked(tt, 'one&timeout=0.5', [streamItem(uniqueName('no'), 'x')]);
    expect(result.status).toBe(404);
    expect(result.items[0]).toMatchObject({ connection: null, listeners: 0 });
  });

  it('excludes listeners with skip-users (Pushca’s exclude)', async () => {
    const channel = uniqueName('ex');
    const [u0, u1, u2] = await openListeners([tt, tt, tt], channel);
    await publishOk(tt, streamItem(channel, 'item-all\n', { meta: { skip_users: 'u1' } }));
    await publishOk(tt, streamItem(channel, 'item-end\n'));
    expect(await u0!.waitForText('item-end\n')).toBe('open\nitem-all\nitem-end\n');
    expect(await u1!.waitForText('item-end\n')).toBe('open\nitem-end\n');
    expect(await u2!.waitForText('item-end\n')).toBe('open\nitem-all\nitem-end\n');
  });
});
