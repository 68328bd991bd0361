import type http from 'node:http';
import { request } from 'undici';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { WebSocketServer } from 'ws';
import { stopAllBackends } from '../support/backend.js';
import {
  closeTrackedStreams,
  openTrackedStream as openStream,
  startPathBackend,
  streamItem,
  uniqueName,
  type PathBackend,
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
 * Acknowledged push (Pushca's contract): `POST /publish/?ack=S` to one connection answers
 * 200 once the client acknowledged the item, 408 when it did not within S seconds. A
 * WebSocket client acknowledges with the text frame {"thumbtack-ack":"<item id>"}, which
 * thumbtack consumes; an HTTP client with POST /_thumbtack/ack/<connection id>/<item id>,
 * on any worker or node. An ack nobody waits for is counted and ignored.
 */

let backend: PathBackend;
/** A passthrough WebSocket backend: what its sockets received, by Connection-Id. */
let passthrough: WebSocketServer;
const passthroughSeen = new Map<string, string[]>();
let woh: WohBackend;

beforeAll(async () => {
  backend = await startPathBackend();
  backend.on('/stream', (_req: http.IncomingMessage, res: http.ServerResponse) => {
    res.writeHead(200, {
      'content-type': 'text/plain',
      'grip-hold': 'stream',
      'grip-channel': uniqueName('acks'),
    });
    res.end('open\n');
  });
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
});

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

/** Starting thumbtack beside other test files on two busy cores can take past 20 s. */
const startupTimeoutMs = 60_000;
const routes = (): string => {
  const { port } = passthrough.address() as { port: number };
  return `*,path_beg=/woh ${woh.target},over_http\n*,path_beg=/pass 127.0.0.1:${port}\n* ${backend.target}\n`;
};
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

describe('acknowledged push on one node', () => {
  let tt: Thumbtack;

  beforeAll(async () => {
    tt = await startThumbtack({ routes: routes(), workers: 2, readyTimeoutMs: 50_000 });
    await busReady(tt, 2);
  }, startupTimeoutMs);

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
    const stream = await openStream(`${tt.url}/stream`);
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
