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
      `max ${fmt(max)} ms, lost ${lost}, dropped ${report.dropped}${dropNote(report.dropReasons)}, duplicates ${report.duplicates}; coalesced: ${verdict}`,
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
  return {
    name,
    metrics: fanoutMetrics(name),
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
