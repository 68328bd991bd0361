import { epochMs } from '../clock.js';
import type { BenchOptions } from '../options.js';
import { sleep } from '../process-tree.js';
import { HttpPublisher, measuredItem, probeItem, type PublishItem } from '../publisher.js';
import { awaitDeliveries, probeUntilReached } from './delivery-wait.js';
import { connectNote, dropNote } from './fanout.js';
import {
  fmt,
  type MetricSpec,
  openOptions,
  round,
  type Workload,
  type WorkloadResult,
} from './workload.js';

const probeTimeoutMs = 60_000;
const probeBatch = 500;
const maxBatch = 200;
const maxInFlight = 8;
const quietMs = 2_000;
const drainTimeoutMs = 15_000;
/** A step is sustained when it delivers this share of its target rate with nothing lost. */
const sustainedShare = 0.9;
/** The latency bound for distinct-channel publishing, reported as its own figure. */
const targetP99Ms = 50;
/** Past this p99 the ramp stops: the system is saturated. */
const saturatedP99Ms = 2_000;

interface Step {
  target: number;
  sent: number;
  received: number;
  achieved: number;
  p50: number | null;
  p99: number | null;
  max: number | null;
  lost: number;
  publishErrors: number;
  isSustained: boolean;
}

/**
 * Publishes `rate` items/s for `durationMs`, each to the next of `channels` in turn, in
 * batches of at most `maxBatch` items per POST with at most `maxInFlight` POSTs outstanding.
 */
async function publishAtRate(
  publisher: HttpPublisher,
  channels: string[],
  rate: number,
  durationMs: number,
): Promise<{ sent: number; errors: number }> {
  const batch = Math.min(maxBatch, Math.max(1, Math.round(rate / 500)));
  const inFlight = new Set<Promise<void>>();
  const t0 = performance.now();
  let sent = 0;
  let errors = 0;
  for (;;) {
    const elapsed = performance.now() - t0;
    if (elapsed >= durationMs) break;
    const due = Math.floor((rate * elapsed) / 1000) - sent;
    if (inFlight.size >= maxInFlight) {
      await Promise.race(inFlight);
      continue;
    }
    if (due < batch && due < rate / 1000) {
      await sleep(1);
      continue;
    }
    const n = Math.min(due, batch);
    const items: PublishItem[] = new Array(n);
    for (let i = 0; i < n; i++)
      items[i] = measuredItem(channels[(sent + i) % channels.length], 'http-stream');
    sent += n;
    const request: Promise<void> = publisher
      .publish(items)
      .catch(() => {
        errors += n;
      })
      .finally(() => inFlight.delete(request));
    inFlight.add(request);
  }
  await Promise.all(inFlight);
  return { sent: sent - errors, errors };
}

/** N connections, each on its own channel; publishes at a rising fixed rate. */
export function channelsWorkload(options: BenchOptions): Workload {
  const metrics: MetricSpec[] = [
    {
      key: 'sustained_s',
      label: 'channels: sustained deliveries/s (0 lost)',
      unit: '/s',
      better: 'higher',
      chart: 'throughput',
    },
    {
      key: 'sustained_p50_ms',
      label: 'channels: p50 at sustained rate',
      unit: 'ms',
      better: 'lower',
      chart: 'latency',
    },
    {
      key: 'sustained_p99_ms',
      label: 'channels: p99 at sustained rate',
      unit: 'ms',
      better: 'lower',
      chart: 'latency',
    },
    {
      key: 'within_p99_target_s',
      label: `channels: highest sustained deliveries/s at p99 ≤ ${targetP99Ms} ms`,
      unit: '/s',
      better: 'higher',
    },
    {
      key: 'max_achieved_s',
      label: 'channels: highest achieved deliveries/s',
      unit: '/s',
      better: 'higher',
    },
    { key: 'lost', label: 'channels: messages lost (all steps)', unit: 'count', better: 'lower' },
    {
      key: 'unreached',
      label: 'channels: connections not reached by a probe',
      unit: 'count',
      better: 'lower',
    },
    { key: 'dropped', label: 'channels: connections dropped', unit: 'count', better: 'lower' },
  ];
  return {
    name: 'channels',
    metrics,
    connections: options.channels,
    async run({ sut, fleet, log }): Promise<WorkloadResult> {
      const n = options.channels;
      log(`channels: opening ${n} SSE connections, one channel each`);
      const open = await fleet.openSse(
        { host: '127.0.0.1', port: sut.clientPort },
        '/stream/ch-{i}',
        n,
        openOptions(options),
      );
      if (open.opened === 0) {
        return {
          workload: 'channels',
          sut: sut.name,
          status: 'failed',
          note: 'no connection',
          metrics: {},
          summary: 'no connection',
        };
      }
      const publisher = new HttpPublisher(sut.publishUrl, maxInFlight);
      try {
        // Every channel gets a probe, in POSTs of probeBatch items.
        const publishProbes = async () => {
          const items: PublishItem[] = [];
          for (let i = 0; i < n; i++) items.push(probeItem(`ch-${i}`, 'http-stream'));
          for (let i = 0; i < items.length; i += probeBatch)
            await publisher.publish(items.slice(i, i + probeBatch));
        };
        const reached = await probeUntilReached(fleet, publishProbes, open.opened, probeTimeoutMs);
        // Publish only to channels whose connection is live and subscribed: a connection the
        // system dropped or never subscribed is counted apart, not as lost throughput.
        const live = (await fleet.probedIndices()).map((i) => `ch-${i}`);
        log(`channels: ${reached}/${open.opened} reached by a probe; publishing to ${live.length}`);
        if (live.length === 0) throw new Error('no connection was reached by a probe');
        const steps: Step[] = [];
        for (const rate of options.channelRates) {
          await fleet.reset();
          log(`channels: ${rate} items/s for ${options.channelStep} s`);
          const startedAt = epochMs();
          const { sent, errors } = await publishAtRate(
            publisher,
            live,
            rate,
            options.channelStep * 1000,
          );
          await awaitDeliveries(fleet, sent, quietMs, drainTimeoutMs);
          const report = await fleet.report();
          const spanS = Math.max(options.channelStep, (report.lastReceiptAt - startedAt) / 1000);
          const achieved = report.received / spanS;
          const lost = sent - report.received;
          const p99 = report.latency.percentile(99);
          const step: Step = {
            target: rate,
            sent,
            received: report.received,
            achieved: Math.round(achieved),
            p50: round(report.latency.percentile(50)),
            p99: round(p99),
            max: round(report.latency.max),
            lost,
            publishErrors: errors,
            isSustained: lost === 0 && errors === 0 && achieved >= sustainedShare * rate,
          };
          steps.push(step);
          if (lost > 0.01 * sent || p99 > saturatedP99Ms || errors > 0) break;
        }
        const counts = await fleet.report();
        const best = [...steps].reverse().find((s) => s.isSustained);
        const withinTarget = steps.filter(
          (s) => s.isSustained && s.p99 !== null && s.p99 <= targetP99Ms,
        );
        const maxAchieved = Math.max(...steps.map((s) => s.achieved));
        const lost = steps.reduce((a, s) => a + s.lost, 0);
        const stepText = steps
          .map(
            (s) =>
              `${fmt(s.target)}→${fmt(s.achieved)}/s p99 ${s.p99 === null ? '-' : fmt(s.p99)} ms lost ${s.lost}`,
          )
          .join(', ');
        return {
          workload: 'channels',
          sut: sut.name,
          status: 'ok',
          metrics: {
            sustained_s: best ? best.achieved : 0,
            sustained_p50_ms: best ? best.p50 : null,
            sustained_p99_ms: best ? best.p99 : null,
            within_p99_target_s: Math.max(0, ...withinTarget.map((s) => s.achieved)),
            max_achieved_s: maxAchieved,
            lost,
            unreached: open.opened - live.length,
            dropped: counts.dropped,
          },
          note: connectNote(open),
          detail: {
            connections: open.opened,
            probeReached: reached,
            connectRetried: open.retried,
            steps,
          },
          summary:
            `${open.opened} channels: sustained ${best ? fmt(best.achieved) : 0} deliveries/s ` +
            `(p99 ${best?.p99 == null ? '-' : fmt(best.p99)} ms); ${open.opened - live.length} not reached by a probe, ` +
            `${counts.dropped} dropped${dropNote(counts.dropReasons)}; steps ${stepText}`,
        };
      } finally {
        await publisher.close();
      }
    },
  };
}
