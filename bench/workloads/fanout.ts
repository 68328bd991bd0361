import { epochMs, monotonicUs } from '../clock.js';
import type { MergedDelivery } from '../loadgen/fleet.js';
import type { OpenResult } from '../loadgen/messages.js';
import type { BenchOptions } from '../options.js';
import { sleep } from '../process-tree.js';
import {
  HttpPublisher,
  measuredItem,
  probeItem,
  ZmqPublisher,
  type Format,
  type Publisher,
  type PublishItem,
} from '../publisher.js';
import { awaitDeliveries, probeUntilReached } from './delivery-wait.js';
import {
  describeCounts,
  fmt,
  type MetricSpec,
  type MetricValue,
  openOptions,
  round,
  type Workload,
  type WorkloadContext,
  type WorkloadResult,
} from './workload.js';

const probeTimeoutMs = 30_000;
const quietMs = 5_000;
const deliveryTimeoutMs = 120_000;

export interface FanoutFigures {
  window: [number, number];
  metrics: Record<string, MetricValue>;
  summary: string;
  detail: Record<string, unknown>;
}

/**
 * The coalescing verdict: a burst that lands in one event-loop turn may leave as one write
 * per connection (several items in one HTTP chunk), which changes deliveries/s several-fold.
 * Items sharing a socket read only mean the kernel or a cork batched separate writes.
 */
export function coalescing(report: MergedDelivery): {
  verdict: string;
  chunkPct: number;
  readPct: number;
} {
  const chunkPct = report.received > 0 ? (report.chunkShared / report.received) * 100 : 0;
  const readPct = report.received > 0 ? (report.readShared / report.received) * 100 : 0;
  const verdict =
    chunkPct >= 1
      ? `yes: ${fmt(chunkPct)} % of items shared an HTTP chunk (up to ${report.maxItemsPerChunk} per write)`
      : `no: one item per write (${fmt(readPct)} % shared a socket read, up to ${report.maxItemsPerRead})`;
  return { verdict, chunkPct, readPct };
}

/**
 * Publishes `messages` measured items to `channel` and measures their arrival at `opened`
 * subscribers that already received a probe. Shared by fanout, zmq and ws fan-out.
 */
export async function measureFanout(
  ctx: WorkloadContext,
  publisher: Publisher,
  channel: string,
  format: Format,
  opened: number,
): Promise<FanoutFigures> {
  const { fleet, options, log } = ctx;
  const probe = () => publisher.publish([probeItem(channel, format)]);
  const reached = await probeUntilReached(fleet, probe, opened, probeTimeoutMs);
  await fleet.reset();
  log(
    `fan-out: ${reached}/${opened} subscribers reached by a probe; publishing ${options.messages}`,
  );
  const windowStart = monotonicUs();
  const startedAt = epochMs();
  for (let i = 0; i < options.messages; i++) {
    await publisher.publish([measuredItem(channel, format)]);
    if (options.publishInterval > 0) await sleep(options.publishInterval);
  }
  const publishMs = epochMs() - startedAt;
  const expected = opened * options.messages;
  await awaitDeliveries(fleet, expected, quietMs, deliveryTimeoutMs);
  const window: [number, number] = [windowStart, monotonicUs()];
  const report = await fleet.report();
  const spanS = Math.max(1e-3, (report.lastReceiptAt - startedAt) / 1000);
  const rate = report.received / spanS;
  const lost = expected - report.received;
  const { verdict, chunkPct, readPct } = coalescing(report);
  const p50 = report.latency.percentile(50);
  const p99 = report.latency.percentile(99);
  const max = report.latency.max;
  return {
    window,
    metrics: {
      deliveries_s: round(rate, 0),
      p50_ms: round(p50),
      p99_ms: round(p99),
      max_ms: round(max),
      lost,
      dropped: report.dropped,
      coalesced_pct: round(chunkPct, 1),
    },
    detail: {
      subscribers: opened,
      probeReached: reached,
      expected,
      received: report.received,
      duplicates: report.duplicates,
      outOfOrder: report.outOfOrder,
      dropReasons: report.dropReasons,
      publishMs: round(publishMs),
      spanMs: round(spanS * 1000),
      itemsSharingChunkPct: round(chunkPct, 1),
      itemsSharingReadPct: round(readPct, 1),
      maxItemsPerChunk: report.maxItemsPerChunk,
      maxItemsPerRead: report.maxItemsPerRead,
      coalesced: verdict,
    },
    summary:
      `${opened} subs × ${options.messages} msgs: ${fmt(rate)} deliveries/s, p50 ${fmt(p50)} ms, p99 ${fmt(p99)} ms, ` +
      `max ${fmt(max)} ms, lost ${lost}, dropped ${report.dropped}${dropNote(report.dropReasons)}, duplicates ${report.duplicates}, out of order ${report.outOfOrder}; coalesced: ${verdict}`,
  };
}

export function fanoutMetrics(prefix: string): MetricSpec[] {
  return [
    {
      key: 'deliveries_s',
      label: `${prefix}: deliveries/s`,
      unit: '/s',
      better: 'higher',
      chart: 'throughput',
    },
    {
      key: 'p50_ms',
      label: `${prefix}: latency p50`,
      unit: 'ms',
      better: 'lower',
      chart: 'latency',
    },
    {
      key: 'p99_ms',
      label: `${prefix}: latency p99`,
      unit: 'ms',
      better: 'lower',
      chart: 'latency',
    },
    {
      key: 'max_ms',
      label: `${prefix}: latency max`,
      unit: 'ms',
      better: 'lower',
      chart: 'latency',
    },
    { key: 'lost', label: `${prefix}: messages lost`, unit: 'count', better: 'lower' },
    { key: 'dropped', label: `${prefix}: connections dropped`, unit: 'count', better: 'lower' },
    {
      key: 'coalesced_pct',
      label: `${prefix}: items coalesced into one write`,
      unit: '%',
      better: 'info',
    },
  ];
}

/** `--receipts`: the same fan-out published all at once, without and with `?receipt` (medians). */
const receiptMetrics: MetricSpec[] = [
  {
    key: 'unawaited_deliveries_s',
    label: 'fanout published all at once: deliveries/s (median of rounds)',
    unit: '/s',
    better: 'higher',
  },
  {
    key: 'receipts_deliveries_s',
    label: 'fanout published all at once with receipts: deliveries/s (median of rounds)',
    unit: '/s',
    better: 'higher',
  },
  {
    key: 'receipts_p99_ms',
    label: 'fanout with receipts: latency p99 (median of rounds)',
    unit: 'ms',
    better: 'lower',
  },
  {
    key: 'receipts_lost',
    label: 'fanout with receipts: messages lost (all rounds)',
    unit: 'count',
    better: 'lower',
  },
  {
    key: 'receipts_ratio',
    label: 'fanout with receipts / without (all at once, medians): deliveries/s',
    unit: 'ratio',
    better: 'higher',
  },
];

/** Rounds of the all-at-once fan-out, in the order plain, receipts, receipts, plain (×4). */
const receiptOrder = Array.from({ length: 4 }, () => ['', '?receipt', '?receipt', '']).flat();

/**
 * The same fan-out published all at once, without and with `?receipt`, interleaved: one
 * burst lasts about half a second, so a single pair is mostly noise and whichever runs
 * first is favoured. Reports the medians and every round.
 */
async function compareReceipts(
  ctx: WorkloadContext,
  publishUrl: string,
  channel: string,
  opened: number,
): Promise<{ metrics: Record<string, MetricValue>; detail: unknown[]; summary: string }> {
  const rounds: { receipts: boolean; figures: FanoutFigures }[] = [];
  for (const query of receiptOrder) {
    const figures = await measureUnawaited(ctx, publishUrl, query, channel, opened);
    rounds.push({ receipts: query !== '', figures });
  }
  const runs = (receipts: boolean) =>
    rounds.filter((round) => round.receipts === receipts).map((round) => round.figures.metrics);
  const rates = (receipts: boolean) => runs(receipts).map((m) => Number(m['deliveries_s']));
  const plainRate = median(rates(false));
  const receiptRate = median(rates(true));
  return {
    metrics: {
      unawaited_deliveries_s: round(plainRate, 0),
      receipts_deliveries_s: round(receiptRate, 0),
      receipts_p99_ms: round(median(runs(true).map((m) => Number(m['p99_ms'])))),
      receipts_lost: runs(true).reduce((sum, m) => sum + Number(m['lost']), 0),
      receipts_ratio: round(receiptRate / plainRate, 3),
    },
    detail: rounds.map((round, i) => ({
      round: i + 1,
      receipts: round.receipts,
      ...round.figures.metrics,
    })),
    summary:
      `all at once, ${rounds.length} interleaved rounds: without receipts ` +
      `${rates(false).map(fmt).join('/')}, with ${rates(true).map(fmt).join('/')} deliveries/s, ` +
      `median ratio ${fmt(receiptRate / plainRate)}`,
  };
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** The fan-out with every publish sent at once, `query` on the publish URL. */
async function measureUnawaited(
  ctx: WorkloadContext,
  publishUrl: string,
  query: string,
  channel: string,
  opened: number,
): Promise<FanoutFigures> {
  ctx.log(`${channel}: again, every publish sent at once${query ? `, with ${query}` : ''}`);
  // A connection of its own per publish, open before the burst: with receipts a connection
  // stays busy until its item is written everywhere, so publishes that had to open or wait
  // for one would trickle in one per turn, and each reach the workers alone. One more for
  // the probe, whose receipt may still be on its way when the burst starts.
  const connections = Array.from(
    { length: ctx.options.messages + 1 },
    () => new HttpPublisher(publishUrl + query, 1),
  );
  const publisher = new UnawaitedPublisher(connections);
  try {
    await Promise.all(connections.map((connection) => connection.connect()));
    return await measureFanout(ctx, publisher, channel, 'http-stream', opened);
  } finally {
    await publisher.close();
  }
}

/**
 * Sends each publish without waiting for its answer, on a connection with no publish in
 * flight: a receipt answers once the item is written everywhere, so awaiting each one would
 * measure one publish at a time, not what the receipts cost. Failures surface at close().
 */
class UnawaitedPublisher implements Publisher {
  private readonly sent: Promise<void>[] = [];
  private readonly busy = new Set<HttpPublisher>();
  private turn = 0;

  constructor(private readonly connections: HttpPublisher[]) {}

  publish(items: PublishItem[]): Promise<void> {
    const connection =
      this.connections.find((candidate) => !this.busy.has(candidate)) ??
      this.connections[this.turn++ % this.connections.length]!;
    this.busy.add(connection);
    const sent = connection.publish(items).finally(() => this.busy.delete(connection));
    sent.catch(() => undefined); // reported by close(), not as an unhandled rejection
    this.sent.push(sent);
    return Promise.resolve();
  }

  async close(): Promise<void> {
    try {
      await Promise.all(this.sent);
    } finally {
      await Promise.all(this.connections.map((connection) => connection.close()));
    }
  }
}

/** " (reason×n, ...)" for dropped connections, or nothing. */
export function dropNote(reasons: Record<string, number>): string {
  return Object.keys(reasons).length > 0 ? ` (${describeCounts(reasons)})` : '';
}

/** Connection failures worth a note: the proxy refused some attempts (e.g. 502). */
export function connectNote(open: OpenResult): string | undefined {
  if (open.failed + open.retried === 0) return undefined;
  return `${open.failed} failed to connect, ${open.retried} attempts retried (${describeCounts(open.errors)})`;
}

/** N SSE subscribers on one channel, M publishes over HTTP (`fanout`) or ZeroMQ PUB (`zmq`). */
export function fanoutWorkload(options: BenchOptions, via: 'http' | 'zmq'): Workload {
  const name = via === 'http' ? 'fanout' : 'zmq';
  const hasReceiptRun = via === 'http' && options.receipts;
  return {
    name,
    metrics: hasReceiptRun ? [...fanoutMetrics(name), ...receiptMetrics] : fanoutMetrics(name),
    connections: options.fanout,
    async run(ctx): Promise<WorkloadResult> {
      const { sut, fleet, log } = ctx;
      log(`${name}: opening ${options.fanout} SSE subscribers`);
      const open = await fleet.openSse(
        { host: '127.0.0.1', port: sut.clientPort },
        `/stream/${name}`,
        options.fanout,
        openOptions(options),
      );
      if (open.opened === 0) {
        return {
          workload: name,
          sut: sut.name,
          status: 'failed',
          note: 'no subscriber connected',
          metrics: {},
          summary: 'no subscriber connected',
        };
      }
      let publisher: Publisher;
      if (via === 'zmq') {
        const zmqPublisher = new ZmqPublisher(sut.zmqSub);
        publisher = zmqPublisher;
        try {
          await zmqPublisher.waitForSubscription(name, probeTimeoutMs);
        } catch (err) {
          await zmqPublisher.close();
          return {
            workload: name,
            sut: sut.name,
            status: 'failed',
            note: (err as Error).message,
            metrics: {},
            summary: (err as Error).message,
          };
        }
      } else {
        publisher = new HttpPublisher(sut.publishUrl);
      }
      try {
        const figures = await measureFanout(ctx, publisher, name, 'http-stream', open.opened);
        if (hasReceiptRun && sut.name === 'thumbtack') {
          const rounds = await compareReceipts(ctx, sut.publishUrl, name, open.opened);
          Object.assign(figures.metrics, rounds.metrics);
          figures.detail['receiptRounds'] = rounds.detail;
          figures.summary += `; ${rounds.summary}`;
        }
        return {
          workload: name,
          sut: sut.name,
          status: 'ok',
          note: connectNote(open),
          metrics: figures.metrics,
          window: figures.window,
          detail: { ...figures.detail, connectFailures: open.errors, connectRetried: open.retried },
          summary:
            figures.summary + (open.failed + open.retried > 0 ? `; ${connectNote(open)}` : ''),
        };
      } finally {
        await publisher.close();
      }
    },
  };
}
