import { Agent, request } from 'undici';
import { afterAll, beforeAll, expect, test } from 'vitest';
import WebSocket from 'ws';
import { stopAllBackends } from '../support/backend.js';
import { publishOk, startPathBackend, uniqueName, type PathBackend } from '../support/grip.js';
import { startRedisServer, stopAllRedisServers } from '../support/redis-server.js';
import { startThumbtack, stopAllThumbtacks, type Thumbtack } from '../support/thumbtack.js';
import { startWohBackend, type WohBackend } from '../support/ws.js';

/*
 * The drop test (after AnyCable's): two nodes and one Redis; 200 clients per transport
 * (SSE, long-poll, WebSocket) spread over both nodes, each dropping its connection every
 * 2 s and reconnecting from the last item it got, while node A takes a 30 s publish
 * stream. Every client must end with every item exactly once, in order.
 */

const clientsPerTransport = 200;
const streamMs = 30_000;
const publishEveryMs = 200;
const dropEveryMs = 2_000;
/** An SSE or WebSocket connection answered after its drop time stays open this long. */
const answerGraceMs = 1_000;

let backend: PathBackend;
let woh: WohBackend;
let nodes: Thumbtack[];
const channel = uniqueName('drops');
const agent = new Agent({ connections: 1_000, pipelining: 0 });
/** Set when the file ends: a test that timed out mid-stream leaves no client reconnecting. */
let isOver = false;

beforeAll(async () => {
  const redis = await startRedisServer();
  backend = await startPathBackend();
  // SSE: the backend names no position; the route's sse_resume takes Last-Event-ID.
  backend.on('/events', (_req, res) => {
    res.writeHead(200, {
      'content-type': 'text/event-stream',
      'grip-hold': 'stream',
      'grip-channel': channel,
    });
    res.end(':open\n\n');
  });
  // Long-poll: the backend holds from the id the client last got (the one-line pattern).
  backend.on('/poll', (req, res) => {
    const from = new URL(req.url!, 'http://backend').searchParams.get('from')!;
    res.writeHead(200, {
      'content-type': 'text/plain',
      'grip-hold': 'response',
      'grip-channel': `${channel}; prev-id=${from}`,
      'grip-timeout': '20',
    });
    res.end('');
  });
  woh = await startWohBackend((ws, req) => {
    if (!ws.isOpening()) return;
    ws.accept();
    const from = new URL(req.url!, 'http://backend').searchParams.get('from')!;
    ws.sendControl(JSON.stringify({ type: 'subscribe', channel, 'prev-id': from }));
  });
  const routes = `*,path_beg=/ws ${woh.target},over_http\n*,path_beg=/events,sse_resume ${backend.target}\n* ${backend.target}\n`;
  const args = ['--redis', redis.url, '--max-connections', '5000'];
  nodes = await Promise.all([startThumbtack({ routes, args }), startThumbtack({ routes, args })]);
  // Redis, two backends and two runners of three processes each, on a machine that may be
  // running the rest of the suite: each start waits on its ready lines, bounded here.
}, 60_000);

afterAll(async () => {
  isOver = true;
  await stopAllThumbtacks();
  await stopAllBackends();
  await stopAllRedisServers();
  await agent.close();
});

function item(n: number): Record<string, unknown> {
  return {
    channel,
    id: String(n),
    'prev-id': String(n - 1),
    formats: {
      'http-stream': { content: `id: ${n}\ndata: item-${n}\n\n` },
      'http-response': { body: `item-${n}` },
      'ws-message': { content: `item-${n}` },
    },
  };
}

/** One client's items, as numbers, in the order they arrived (duplicates kept). */
interface Client {
  /** The node it connects to (0 took the publishes, 1 gets them through Redis). */
  node: number;
  received: number[];
  /** When the client last got an item: a client still catching up is not stopped. */
  progressAt: number;
  take(item: number): void;
  /** Connections made (each drop makes another). */
  connects: number;
  /** What the last connection or answer without an item came to, for a failure's message. */
  problem?: string;
  /** Where each connection started: the count of items received then, and its position. */
  starts: { at: number; from: number }[];
  /** Marks a new connection from the client's last item. */
  start(): void;
  last(): number;
}

function newClient(node: number): Client {
  const received: number[] = [];
  const client: Client = {
    node,
    received,
    progressAt: Date.now(),
    take: (item) => {
      received.push(item);
      client.progressAt = Date.now();
    },
    connects: 0,
    starts: [],
    start: () => {
      client.starts.push({ at: received.length, from: client.last() });
    },
    last: () => received.at(-1) ?? 0,
  };
  return client;
}

/**
 * A wrong client's items around its first mistake, with each connection's start as
 * `[from N]`, so a failure shows whether the item went missing at a reconnect (a resume)
 * or within one connection (live delivery).
 */
function describeMistake(client: Client, expected: number[]): string {
  const at = expected.findIndex((n, i) => client.received[i] !== n);
  const first = at < 0 ? client.received.length : at;
  const parts: string[] = [];
  const lo = Math.max(0, first - 4);
  const hi = Math.min(client.received.length, first + 5);
  for (let i = lo; i <= hi; i++) {
    const starts = client.starts.filter((start) => start.at === i);
    // A client reconnecting without getting anything shows as one mark with its count.
    if (starts.length > 0) {
      const times = starts.length > 1 ? ` x${starts.length}` : '';
      parts.push(`[from ${starts[0]!.from}${times}]`);
    }
    if (i < hi) parts.push(String(client.received[i]));
  }
  const missing = expected.filter((n) => !client.received.includes(n));
  return `expected ${expected[first] ?? 'nothing more'} at #${first}, got ${parts.join(' ')}; missing [${missing.slice(0, 5).join()}]`;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Runs one client until `isDone()`: connect from its last item, drop after ~2 s, repeat. */
async function runSse(node: Thumbtack, client: Client, isDone: () => boolean): Promise<void> {
  while (!isDone()) {
    const controller = new AbortController();
    const dropAt = Date.now() + dropEveryMs * (0.5 + Math.random());
    let timer: NodeJS.Timeout | undefined;
    client.connects++;
    client.start();
    const before = client.received.length;
    // What this connection came to, for a failure's message when it brought no item.
    let outcome = 'failed before the answer';
    try {
      const res = await request(`${node.url}/events`, {
        dispatcher: agent,
        signal: controller.signal,
        headers: { 'last-event-id': String(client.last()) },
      });
      // Dropped only once answered: on a loaded machine the round trip (backend and resume)
      // can outlast the drop interval, and a client dropped before every answer would never
      // move on, which says nothing about thumbtack. A late answer gets a moment for its
      // resumed items.
      timer = setTimeout(() => controller.abort(), Math.max(answerGraceMs, dropAt - Date.now()));
      outcome = res.statusCode === 200 ? 'open, no item' : `status ${res.statusCode}`;
      let text = '';
      for await (const chunk of res.body) {
        text += (chunk as Buffer).toString();
        let end: number;
        while ((end = text.indexOf('\n\n')) >= 0) {
          const event = text.slice(0, end + 1);
          const match = /^id: (\d+)\n/.exec(event);
          if (match) client.take(Number(match[1]));
          else if (!event.startsWith(':')) outcome = JSON.stringify(event.slice(0, 80));
          text = text.slice(end + 2);
        }
        if (isDone()) controller.abort();
      }
    } catch {
      // dropped (aborted): reconnect
    } finally {
      clearTimeout(timer);
      if (client.received.length === before) client.problem = outcome;
    }
  }
}

async function runPoll(node: Thumbtack, client: Client, isDone: () => boolean): Promise<void> {
  let connectedAt = Date.now();
  let dropAfter = dropEveryMs * (0.5 + Math.random());
  // A connection is dropped only once it had an answer: on a loaded machine a poll's round
  // trip (backend and resume) can outlast the drop interval, and a client dropped before
  // every first answer would never move on, which says nothing about thumbtack.
  let hasAnswer = false;
  client.start();
  while (!isDone()) {
    const controller = new AbortController();
    const timer = hasAnswer
      ? setTimeout(() => controller.abort(), Math.max(1, dropAfter - (Date.now() - connectedAt)))
      : undefined;
    try {
      const res = await request(`${node.url}/poll?from=${client.last()}`, {
        dispatcher: agent,
        signal: controller.signal,
      });
      const body = await res.body.text();
      const match = /^item-(\d+)$/.exec(body);
      if (match) client.take(Number(match[1]));
      else client.problem = `${res.statusCode} ${JSON.stringify(body.slice(0, 80))}`;
      hasAnswer = true;
    } catch {
      client.connects++;
      client.start();
      connectedAt = Date.now(); // dropped: the next poll is a new connection's
      dropAfter = dropEveryMs * (0.5 + Math.random());
      hasAnswer = false;
    } finally {
      clearTimeout(timer);
    }
  }
}

async function runWs(node: Thumbtack, client: Client, isDone: () => boolean): Promise<void> {
  while (!isDone()) {
    await new Promise<void>((resolve) => {
      const url = `${node.url.replace(/^http/, 'ws')}/ws?from=${client.last()}`;
      client.connects++;
      client.start();
      const before = client.received.length;
      let outcome = 'failed before the handshake ended';
      const socket = new WebSocket(url, { perMessageDeflate: false });
      const dropAt = Date.now() + dropEveryMs * (0.5 + Math.random());
      let timer: NodeJS.Timeout | undefined;
      const check = setInterval(() => {
        if (isDone()) socket.terminate();
      }, 200);
      // Dropped only once open, for the reason SSE clients are.
      socket.on('open', () => {
        outcome = 'open, no item';
        timer = setTimeout(() => socket.terminate(), Math.max(answerGraceMs, dropAt - Date.now()));
      });
      socket.on('message', (data) => {
        const match = /^item-(\d+)$/.exec(data.toString());
        if (match) client.take(Number(match[1]));
        else outcome = JSON.stringify(data.toString().slice(0, 80));
      });
      socket.on('error', (err) => (outcome = err.message));
      socket.on('close', (code) => {
        clearTimeout(timer);
        clearInterval(check);
        if (client.received.length === before) client.problem = `${outcome} (close ${code})`;
        resolve();
      });
    });
  }
}

test(
  '200 clients per transport dropped every 2 s during a 30 s publish stream get every item exactly once, in order',
  { timeout: 120_000 },
  async () => {
    const [a] = nodes as [Thumbtack, Thumbtack];
    await publishOk(a, item(0)); // the position every client starts from
    let total = 0;
    const transports = { sse: runSse, poll: runPoll, ws: runWs };
    const clients = new Map<string, Client[]>();
    const loops: Promise<void>[] = [];
    let stopAt = Infinity;
    // After the stream, a client stops once it has the last item, or once it got nothing for
    // 10 s (then it fails): a long-poll client takes one round trip per item it missed, and
    // on a loaded machine catching up takes a while, but it keeps moving.
    const isDone = (client: Client) => () =>
      isOver ||
      (Date.now() >= stopAt &&
        (client.last() >= total || Date.now() - Math.max(client.progressAt, stopAt) > 10_000));
    for (const [name, run] of Object.entries(transports)) {
      const list: Client[] = [];
      clients.set(name, list);
      for (let i = 0; i < clientsPerTransport; i++) {
        const client = newClient(i % 2);
        list.push(client);
        loops.push(run(nodes[client.node]!, client, isDone(client)));
      }
    }
    const started = Date.now();
    while (Date.now() - started < streamMs) {
      total++;
      await publishOk(a, item(total));
      await sleep(publishEveryMs);
    }
    // Every client stops once it has the last item (bounded by the test's timeout).
    stopAt = Date.now();
    await Promise.all(loops);
    const expected = Array.from({ length: total }, (_, i) => i + 1);
    // On a failure, the nodes' warnings say what went wrong.
    const warnings = nodes.flatMap((node, i) =>
      node.logs
        .filter((line) => ['warn', 'error', 'fatal'].includes(String(line.level)))
        .map((line) => `node ${i}: ${JSON.stringify(line)}`),
    );
    // Every transport is checked before the test fails, so a failure shows them all.
    const failures: string[] = [];
    for (const [name, list] of clients) {
      // The drops happened: about one per 2 s of the 30 s stream on average, and to every
      // client (a loaded machine's slow polls make some long-poll clients' drops rarer).
      const connects = list.map((client) => client.connects);
      const average = connects.reduce((sum, n) => sum + n, 0) / connects.length;
      if (average <= 8 || Math.min(...connects) < 2) {
        failures.push(
          `${name}: ${average} connections per client, fewest ${Math.min(...connects)}`,
        );
      }
      const wrong = list.filter((client) => client.received.join() !== expected.join());
      if (wrong.length > 0) {
        const samples = wrong
          .slice(0, 2)
          .map(
            (client) =>
              `node ${client.node}, ${client.received.length} items, last ${client.last()} of ${total} (${client.problem ?? 'no answer'}), ${describeMistake(client, expected)}`,
          );
        failures.push(
          `${name}: ${wrong.length} of ${list.length} clients wrong, e.g. ${samples.join('; ')}`,
        );
      }
    }
    expect(failures, `warnings: ${warnings.slice(0, 20).join('\n')}`).toEqual([]);
  },
);
