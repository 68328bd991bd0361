import net from 'node:net';
import { DeliveryStats } from '../../../bench/loadgen/delivery-stats.js';
import { SseConnection } from '../../../bench/loadgen/sse-client.js';
import { streamItem } from '../../support/grip.js';
import { startGripWsBackend } from '../../support/grip-ws-backend.js';
import { publishItems } from '../../support/held-client.js';
import {
  proxyWorkerPids,
  readMemory,
  startThumbtack,
  waitUntil,
  type Thumbtack,
} from '../../support/thumbtack.js';
import { mib, MiB, RssSampler } from '../process-figures.js';
import type { ChaosRecord, Scenario, ScenarioOptions } from '../record.js';

/*
 * Slow consumers: SSE clients that never read sit on one channel beside clients that read,
 * while megabytes are published to it. The worker must cut each slow client once what it
 * buffers for it passes --stream-buffer-max, so its memory stays bounded by the buffers,
 * and the clients that read must get every item.
 */

const channel = 'chaos-slow';
const cutMessage = 'disconnecting a stream client that reads too slowly';
/** Each item is a numbered SSE event padded to this size, so readers can count them. */
const itemBytes = 16 * 1024;
const itemsPerPublish = 16;
/** The publisher stays at most this many items ahead of the slowest reader. */
const windowItems = 2 * itemsPerPublish;
/**
 * Memory the worker may use beyond its buffers: V8 garbage from the bus messages and the
 * allocator's slack. The buffers themselves are 100 MiB in the full form, the slack small
 * beside them; an unbounded worker would keep every published byte for each slow client.
 */
const slackBytes = 48 * MiB;

interface Shape {
  slow: number;
  fast: number;
  bytes: number;
}

const full: Shape = { slow: 100, fast: 10, bytes: 50 * 1024 * 1024 };
const short: Shape = { slow: 10, fast: 3, bytes: 5 * 1024 * 1024 };

export const slowConsumers: Scenario = {
  name: 'slow-consumers',
  summary:
    '100 never-reading SSE clients beside 10 readers while 50 MB are published to their channel ' +
    '[worker RSS within its buffers, every slow client cut, readers lose 0]',
  run,
};

async function run(options: ScenarioOptions): Promise<ChaosRecord> {
  const shape = options.short ? short : full;
  const streamBufferMax = 1024 * 1024;
  const backend = await startGripWsBackend(channel);
  const tt = await startThumbtack({
    routes: `* ${backend.target}\n`,
    workers: 1,
    args: ['--stream-buffer-max', String(streamBufferMax)],
  });
  const slow: PausedClient[] = [];
  const fast: SseConnection[] = [];
  try {
    const [workerPid] = proxyWorkerPids(tt);
    const stats = new DeliveryStats();
    for (let i = 0; i < shape.fast; i++) fast.push(await openReader(tt, stats, i));
    for (let i = 0; i < shape.slow; i++) slow.push(await openPausedClient(tt.port));
    await probe(tt, stats, shape.fast);
    const baseline = readMemory(workerPid!);
    const sampler = new RssSampler(workerPid!);

    const items = Math.ceil(shape.bytes / itemBytes);
    let published = 0;
    let publishFailures = 0;
    let requests = 0;
    const publishedAt = Date.now();
    while (published < items) {
      const count = Math.min(itemsPerPublish, items - published);
      const batch = Array.from({ length: count }, (_, k) =>
        streamItem(channel, itemText(published + k)),
      );
      requests++;
      const res = await publishItems(tt.controlUrl, batch);
      if (res.status !== 200) publishFailures++;
      else published += count;
      if (publishFailures > 10) break;
      const behind = Math.max(0, published - windowItems);
      await waitUntil(() => stats.received >= behind * shape.fast || stats.dropped > 0, 30_000);
      if (stats.dropped > 0) break;
    }
    await waitUntil(
      () => stats.received >= published * shape.fast || stats.dropped > 0,
      30_000,
    ).catch(() => undefined);
    const publishMs = Date.now() - publishedAt;
    const peak = sampler.stop();

    // A cut slow client finds the end of its stream once it reads what the kernel kept.
    for (const client of slow) client.socket.resume();
    const closed = await Promise.all(
      slow.map((client) =>
        Promise.race([
          client.closed.then(() => true),
          new Promise<boolean>((r) => setTimeout(() => r(false), 10_000)),
        ]),
      ),
    );
    const slowCut = tt.logs.filter((l) => l.msg === cutMessage).length;
    const slowClosed = closed.filter(Boolean).length;
    const slowReceivedMax = Math.max(...slow.map((c) => c.received()));

    const buffers = (shape.slow + shape.fast) * (streamBufferMax + itemsPerPublish * itemBytes);
    const bound = baseline + buffers + slackBytes;
    const lost = published * shape.fast - stats.received;
    const failures: string[] = [];
    if (published < items) failures.push(`published ${published} of ${items} items`);
    if (lost !== 0) failures.push(`readers lost ${lost} items (expected 0)`);
    if (stats.duplicates !== 0) failures.push(`readers got ${stats.duplicates} duplicates`);
    if (stats.dropped !== 0) {
      failures.push(
        `${stats.dropped} readers were disconnected: ${JSON.stringify(stats.dropReasons)}`,
      );
    }
    if (slowCut !== shape.slow) {
      failures.push(`${slowCut} slow clients cut (logged), expected ${shape.slow}`);
    }
    if (slowClosed !== shape.slow) {
      failures.push(`${shape.slow - slowClosed} slow clients still open after the publishes`);
    }
    if (peak > bound) {
      failures.push(
        `worker RSS peaked at ${mib(peak)} MiB, past its bound ${mib(bound)} MiB ` +
          `(baseline ${mib(baseline)} + buffers ${mib(buffers)} + slack ${mib(slackBytes)})`,
      );
    }
    return {
      scenario: slowConsumers.name,
      load:
        `${shape.slow} never-reading SSE + ${shape.fast} reading SSE on one channel, ` +
        `${mib(published * itemBytes)} MiB published in ${itemBytes / 1024} KiB items`,
      faultsInjected: shape.slow,
      requestsSent: requests,
      requestsFailed: publishFailures,
      connectionsHeld: shape.fast,
      connectionsLost: stats.dropped,
      itemsPublished: published * shape.fast,
      itemsLost: lost,
      itemsDuplicated: stats.duplicates,
      recoveryMs: null,
      extra: {
        streamBufferMaxBytes: streamBufferMax,
        rssBoundMiB: mib(bound),
        rssBaselineMiB: mib(baseline),
        rssPeakMiB: mib(peak),
        rssGrowthMiB: mib(peak - baseline),
        slowCut,
        slowReceivedMaxMiB: mib(slowReceivedMax),
        publishMs,
      },
      failures,
    };
  } finally {
    for (const client of slow) client.socket.destroy();
    for (const conn of fast) conn.close();
    await tt.stop();
    await backend.close();
  }
}

/** Item k: an SSE event `m<k> <epoch ms>`, padded with a comment line to itemBytes. */
function itemText(k: number): string {
  const event = `data: m${k} ${Date.now()}\n:`;
  return event + '.'.repeat(itemBytes - event.length - 2) + '\n\n';
}

/** Publishes probe events until every reader has one: the channel's subscription is live. */
async function probe(tt: Thumbtack, stats: DeliveryStats, readers: number): Promise<void> {
  const deadline = Date.now() + 10_000;
  for (let n = 0; stats.probed < readers; n++) {
    if (Date.now() > deadline) throw new Error(`${stats.probed} of ${readers} readers probed`);
    await publishItems(tt.controlUrl, [streamItem(channel, `data: p${n}\n\n`)]);
    await waitUntil(() => stats.probed >= readers, 200).catch(() => undefined);
  }
}

function openReader(tt: Thumbtack, stats: DeliveryStats, index: number): Promise<SseConnection> {
  return new Promise((resolve, reject) => {
    // No local address: binding one makes the kernel search its ports at every connect.
    const target = { host: '127.0.0.1', port: tt.port, path: '/sse', localAddress: '', index };
    new SseConnection(target, stats, (conn, error) => {
      if (error === undefined) resolve(conn);
      else reject(new Error(`reader ${index} did not open: ${error}`));
    });
  });
}

interface PausedClient {
  socket: net.Socket;
  closed: Promise<void>;
  /** Bytes read, head included (only after resume() does it read past the head). */
  received(): number;
}

/** A raw SSE client that reads the response head and initial body, then never reads again. */
function openPausedClient(port: number): Promise<PausedClient> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    const closed = new Promise<void>((done) => socket.once('close', () => done()));
    let head = '';
    let isOpen = false;
    let received = 0;
    socket.on('error', () => undefined);
    socket.on('data', (chunk: Buffer) => {
      received += chunk.length;
      if (isOpen) return;
      head += chunk.toString('latin1');
      if (!head.includes(':open\n\n')) return;
      isOpen = true;
      socket.pause();
      resolve({ socket, closed, received: () => received });
    });
    socket.once('close', () => reject(new Error('a slow client closed before its stream opened')));
    socket.write('GET /sse HTTP/1.1\r\nHost: localhost\r\nAccept: text/event-stream\r\n\r\n');
  });
}
