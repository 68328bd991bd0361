import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import { stopAllBackends } from '../support/backend.js';
import {
  openStream,
  publishOk,
  startPathBackend,
  uniqueName,
  type PathBackend,
} from '../support/grip.js';
import { closeAllHeldClients, openHeldClient } from '../support/held-client.js';
import { startRedisServer, stopAllRedisServers } from '../support/redis-server.js';
import { startThumbtack, stopAllThumbtacks, type Thumbtack } from '../support/thumbtack.js';
import {
  closeAllWsClients,
  connectWs,
  startWohBackend,
  type WohBackend,
  type WsTestClient,
} from '../support/ws.js';

/*
 * Resume from channel history: a hold whose backend names the last item it included
 * (`prev-id`) gets what followed from thumbtack's history at once, with no backend round
 * trip; when history no longer reaches that far, the backend is asked at once with
 * Grip-Last (long-poll) or through the next link (stream). On one node history is in
 * memory; with Redis it is the channel's stream, shared by every node.
 */

let backend: PathBackend;
let woh: WohBackend;
const streams: { close(): void }[] = [];

/*
 * History items carry ids but no prev-id: the bus's replay of the last seconds (the
 * subscribe race) already gives a hold an item whose prev-id is the hold's position, so
 * only items without one show that history, not that replay, did the resuming. Live items
 * chain prev-ids, as a publisher using prev-id holds does.
 */
function item(channel: string, n: number, isChained = false): Record<string, unknown> {
  return {
    channel,
    id: String(n),
    ...(isChained ? { 'prev-id': String(n - 1) } : {}),
    formats: {
      'http-response': { body: `item-${n}\n` },
      'http-stream': { content: `item-${n}\n` },
      'ws-message': { content: `item-${n}` },
    },
  };
}

async function publishRange(
  node: Thumbtack,
  channel: string,
  from: number,
  to: number,
  isChained = false,
) {
  for (let n = from; n <= to; n++) await publishOk(node, item(channel, n, isChained));
}

function lines(from: number, to: number): string {
  let text = '';
  for (let n = from; n <= to; n++) text += `item-${n}\n`;
  return text;
}

beforeAll(async () => {
  // A WebSocket-over-HTTP backend that subscribes the client from the position in its URL
  // (?ch=&from=), with the thumbtack extension `prev-id` on the subscribe control message.
  woh = await startWohBackend((ws, req) => {
    if (!ws.isOpening()) return;
    ws.accept();
    const url = new URL(req.url!, 'http://backend');
    const channel = url.searchParams.get('ch')!;
    const from = url.searchParams.get('from');
    ws.sendControl(
      JSON.stringify({ type: 'subscribe', channel, ...(from ? { 'prev-id': from } : {}) }),
    );
  });
  backend = await startPathBackend();
  // GET /events?ch=: an SSE stream whose backend knows nothing of positions (sse_resume).
  backend.on('/events', (req, res) => {
    const channel = new URL(req.url!, 'http://backend').searchParams.get('ch')!;
    res.writeHead(200, {
      'content-type': 'text/event-stream',
      'grip-hold': 'stream',
      'grip-channel': channel,
    });
    res.end(':open\n\n');
  });
  // GET /poll?ch=&from=: a long-poll that already included item `from`; once asked with
  // Grip-Last it answers at once with what it has (a backend catching the client up).
  backend.on('/poll', (req, res) => {
    const url = new URL(req.url!, 'http://backend');
    const channel = url.searchParams.get('ch')!;
    if (req.headers['grip-last']) {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end(`caught up after ${String(req.headers['grip-last'])}\n`);
      return;
    }
    res.writeHead(200, {
      'content-type': 'text/plain',
      'grip-hold': 'response',
      'grip-channel': `${channel}; prev-id=${url.searchParams.get('from')}`,
      'grip-timeout': '20',
    });
    res.end('timed out\n');
  });
  // GET /stream?ch=&from=: a stream (SSE-like) from after item `from`, or after the
  // client's Last-Event-ID; its next link is where a gap is filled.
  backend.on('/stream', (req, res) => {
    const url = new URL(req.url!, 'http://backend');
    const channel = url.searchParams.get('ch')!;
    const from = url.searchParams.get('from') ?? String(req.headers['last-event-id']);
    res.writeHead(200, {
      'content-type': 'text/plain',
      'grip-hold': 'stream',
      'grip-channel': `${channel}; prev-id=${from}`,
      'grip-link': `</next?ch=${channel}>; rel=next`,
    });
    res.end('open\n');
  });
  backend.on('/next', (req, res) => {
    const url = new URL(req.url!, 'http://backend');
    const channel = url.searchParams.get('ch')!;
    res.writeHead(200, {
      'content-type': 'text/plain',
      'grip-hold': 'stream',
      'grip-channel': channel,
    });
    res.end(`next link asked with ${String(req.headers['grip-last'])}\n`);
  });
});

afterEach(() => {
  closeAllHeldClients();
  closeAllWsClients();
  for (const stream of streams.splice(0)) stream.close();
});

afterAll(async () => {
  await stopAllThumbtacks();
  await stopAllBackends();
  await stopAllRedisServers();
});

describe('one node, history in memory', () => {
  let tt: Thumbtack;

  beforeAll(async () => {
    tt = await startThumbtack({
      routes: `* ${backend.target}\n`,
      args: ['--history-size', '20', '--log-level', 'debug'],
    });
  });

  test('a long-poll whose backend included item 2 gets item 3 from history at once, without a second backend request', async () => {
    const channel = uniqueName('resume-poll');
    await publishRange(tt, channel, 1, 5);
    const before = backend.requestsTo('/poll').length;
    const poll = openHeldClient(`${tt.url}/poll?ch=${channel}&from=2`);
    await poll.closed;
    expect(poll.text()).toBe('item-3\n');
    expect(backend.requestsTo('/poll').length).toBe(before + 1);
  });

  test('a long-poll whose prev-id item never passed through thumbtack gets the item that names it as prev-id, not a gap', async () => {
    const channel = uniqueName('resume-poll');
    // Item 1 was the backend's own (in its answer, never published); 2 follows it.
    await publishOk(tt, item(channel, 2, true));
    const poll = openHeldClient(`${tt.url}/poll?ch=${channel}&from=1`);
    await poll.closed;
    expect(poll.text()).toBe('item-2\n');
  });

  test('a long-poll whose prev-id is the last item waits for the next one', async () => {
    const channel = uniqueName('resume-poll');
    await publishRange(tt, channel, 1, 3);
    const poll = openHeldClient(`${tt.url}/poll?ch=${channel}&from=3`);
    await tt.waitForLog(
      (line) => line['event'] === 'channel.resumed' && line['channel'] === channel,
    );
    expect(poll.isClosed()).toBe(false);
    await publishOk(tt, item(channel, 4, true));
    await poll.closed;
    expect(poll.text()).toBe('item-4\n');
  });

  test('a stream that missed 50 items gets exactly those 50 at once, in order, then live ones', async () => {
    const channel = uniqueName('resume-stream');
    const node = await startThumbtack({
      routes: `* ${backend.target}\n`,
      args: ['--history-size', '100', '--log-level', 'debug'],
    });
    await publishRange(node, channel, 1, 60);
    const stream = await openStream(`${node.url}/stream?ch=${channel}&from=10`);
    streams.push(stream);
    await stream.waitForText('item-60\n');
    expect(stream.text()).toBe(`open\n${lines(11, 60)}`);
    await publishRange(node, channel, 61, 62, true);
    await stream.waitForText('item-62\n');
    expect(stream.text()).toBe(`open\n${lines(11, 62)}`);
    await node.stop();
  });

  test("an SSE client reconnecting with Last-Event-ID resumes when the backend's hold names it as prev-id", async () => {
    const channel = uniqueName('resume-sse');
    await publishRange(tt, channel, 1, 8);
    const stream = await openStream(`${tt.url}/stream?ch=${channel}`, {
      headers: { 'last-event-id': '5' },
    });
    streams.push(stream);
    await stream.waitForText('item-8\n');
    expect(stream.text()).toBe(`open\n${lines(6, 8)}`);
  });

  test('a long-poll client that missed 50 items gets exactly those 50, one per poll from its last id, then a live one', async () => {
    const channel = uniqueName('resume-polls');
    const node = await startThumbtack({
      routes: `* ${backend.target}\n`,
      args: ['--history-size', '100', '--log-level', 'debug'],
    });
    await publishRange(node, channel, 1, 60);
    const got: string[] = [];
    for (let last = 10; last < 60; last++) {
      const poll = openHeldClient(`${node.url}/poll?ch=${channel}&from=${last}`);
      await poll.closed;
      got.push(poll.text());
    }
    expect(got.join('')).toBe(lines(11, 60));
    const live = openHeldClient(`${node.url}/poll?ch=${channel}&from=60`);
    await node.waitForLog(
      (line) =>
        line['event'] === 'channel.resumed' &&
        line['channel'] === channel &&
        line['prevId'] === '60',
    );
    await publishOk(node, item(channel, 61, true));
    await live.closed;
    expect(live.text()).toBe('item-61\n');
    await node.stop();
  });

  test('when history no longer reaches the prev-id, a long-poll asks the backend at once with Grip-Last and a stream fetches its next link', async () => {
    const channel = uniqueName('resume-gap');
    await publishRange(tt, channel, 1, 30); // history keeps the last 20: 11..30
    const poll = openHeldClient(`${tt.url}/poll?ch=${channel}&from=4`);
    await poll.closed;
    expect(poll.text()).toBe(`caught up after ${channel}; last-id=4\n`);
    const stream = await openStream(`${tt.url}/stream?ch=${channel}&from=4`);
    streams.push(stream);
    await stream.waitForText(`next link asked with ${channel}; last-id=4\n`);
    expect(stream.text()).not.toContain('item-');
  });
});

describe('WebSocket and SSE', () => {
  let tt: Thumbtack;

  beforeAll(async () => {
    tt = await startThumbtack({
      routes: `*,path_beg=/ws ${woh.target},over_http\n*,path_beg=/events,sse_resume ${backend.target}\n`,
      args: ['--history-size', '20', '--log-level', 'debug'],
    });
  });

  async function texts(client: WsTestClient, count: number): Promise<string[]> {
    const out: string[] = [];
    for (let i = 0; i < count; i++) out.push((await client.next()).text);
    return out;
  }

  test('a WebSocket-over-HTTP subscribe with prev-id gets the 50 missed items from history, then live ones', async () => {
    const channel = uniqueName('resume-ws');
    const node = await startThumbtack({
      routes: `* ${woh.target},over_http\n`,
      args: ['--history-size', '100'],
    });
    await publishRange(node, channel, 1, 55);
    const client = await connectWs(`${node.url.replace(/^http/, 'ws')}/ws?ch=${channel}&from=5`);
    const expected = Array.from({ length: 50 }, (_, i) => `item-${i + 6}`);
    expect(await texts(client, 50)).toEqual(expected);
    await publishOk(node, item(channel, 56, true));
    expect(await texts(client, 1)).toEqual(['item-56']);
    expect(client.pending).toEqual([]);
    client.socket.close();
    await node.stop();
  });

  test('a WebSocket whose prev-id history no longer reaches gets the gap message, then live items', async () => {
    const channel = uniqueName('resume-ws-gap');
    await publishRange(tt, channel, 1, 30);
    const client = await connectWs(`${tt.url.replace(/^http/, 'ws')}/ws?ch=${channel}&from=3`);
    const [gap] = await texts(client, 1);
    expect(JSON.parse(gap!)).toEqual({ type: 'gap', channel, 'last-id': '30' });
    await publishOk(tt, item(channel, 31, true));
    expect(await texts(client, 1)).toEqual(['item-31']);
  });

  test('sse_resume: an SSE client reconnecting with Last-Event-ID gets what it missed though the backend names no prev-id; past history it gets a gap event', async () => {
    const channel = uniqueName('resume-auto');
    await publishRange(tt, channel, 1, 25); // history keeps 6..25
    const resumed = await openStream(`${tt.url}/events?ch=${channel}`, {
      headers: { 'last-event-id': '22' },
    });
    streams.push(resumed);
    await resumed.waitForText('item-25\n');
    expect(resumed.text()).toBe(`:open\n\n${lines(23, 25)}`);
    const tooOld = await openStream(`${tt.url}/events?ch=${channel}`, {
      headers: { 'last-event-id': '2' },
    });
    streams.push(tooOld);
    await tooOld.waitForText('\n\n', 5_000);
    await tooOld.waitForText('event: gap\n');
    expect(tooOld.text()).toBe(
      `:open\n\nevent: gap\ndata: ${JSON.stringify({ channel, 'last-id': '25' })}\n\n`,
    );
    await publishOk(tt, item(channel, 26));
    await tooOld.waitForText('item-26\n');
    await resumed.waitForText('item-26\n');
  });
});

describe('many nodes, history in Redis', () => {
  test('a node that never listened to the channel resumes a long-poll and a stream from the history another node published', async () => {
    const redis = await startRedisServer();
    const args = ['--redis', redis.url, '--log-level', 'debug'];
    const a = await startThumbtack({ routes: `* ${backend.target}\n`, args });
    const b = await startThumbtack({ routes: `* ${backend.target}\n`, args });
    const channel = uniqueName('resume-nodes');
    await publishRange(a, channel, 1, 10);
    const poll = openHeldClient(`${b.url}/poll?ch=${channel}&from=7`);
    await poll.closed;
    expect(poll.text()).toBe('item-8\n');
    const stream = await openStream(`${b.url}/stream?ch=${channel}&from=4`);
    streams.push(stream);
    await stream.waitForText('item-10\n');
    await publishRange(a, channel, 11, 11, true);
    await stream.waitForText('item-11\n');
    expect(stream.text()).toBe(`open\n${lines(5, 11)}`);
  });
});
