import { request } from 'undici';
import type { BenchOptions } from '../options.js';
import { sleep } from '../process-tree.js';
import { HttpPublisher, probeItem, type PublishItem } from '../publisher.js';
import { ReceiptPublisher } from '../receipt-publisher.js';
import { awaitDeliveries, probeUntilReached } from './delivery-wait.js';
import {
  directHeadline,
  directTargetP99Ms,
  isSustained,
  stepLoss,
  type DirectStep,
} from './direct-steps.js';
import { connectNote, dropNote } from './fanout.js';
import {
  describeCounts,
  fmt,
  type MetricSpec,
  openOptions,
  round,
  type Workload,
  type WorkloadResult,
} from './workload.js';

const probeTimeoutMs = 60_000;
const probeBatch = 500;
/**
 * Publishes in flight: each waits for its receipt, so by Little's law 256 sustain 20,000/s
 * while answers take under 12.8 ms. A system slower than that falls short of the step's
 * rate (reported as achieved) instead of queueing ever more requests, which would measure
 * the queue, not the receipt.
 */
const maxInFlight = 256;
const quietMs = 2_000;
const drainTimeoutMs = 15_000;
/** Past this receipt p99 the ramp stops: the system is saturated. */
const saturatedP99Ms = 2_000;

/** Publishes `rate`/s for `durationMs`, each to the next of `ids` in turn, with a receipt. */
async function publishAtRate(
  publisher: ReceiptPublisher,
  ids: string[],
  first: number,
  rate: number,
  durationMs: number,
): Promise<number> {
  const t0 = performance.now();
  let sent = 0;
  for (;;) {
    const elapsed = performance.now() - t0;
    if (elapsed >= durationMs) break;
    const due = Math.floor((rate * elapsed) / 1000) - sent;
    if (due <= 0) {
      await sleep(1);
      continue;
    }
    if (!publisher.hasSlot) {
      await publisher.answered();
      continue;
    }
    const channel = `$connection:${ids[(first + sent) % ids.length]}`;
    if (publisher.isBusy(channel)) {
      await publisher.answered();
      continue;
    }
    publisher.send(channel);
    sent++;
  }
  await publisher.drain();
  return sent;
}

/** The Connection-Id of each connection index, as the bench backend recorded them. */
async function recordedIds(backendPort: number): Promise<Map<number, string>> {
  const { statusCode, body } = await request(`http://127.0.0.1:${backendPort}/direct-ids`);
  const text = await body.text();
  if (statusCode !== 200) throw new Error(`backend /direct-ids answered ${statusCode}`);
  const ids = new Map<number, string>();
  for (const [index, id] of Object.entries(JSON.parse(text) as Record<string, string>))
    if (id) ids.set(Number(index), id);
  return ids;
}

const metrics: MetricSpec[] = [
  {
    key: 'within_p99_target_s',
    label: `direct: highest publishes/s with receipt p99 ≤ ${directTargetP99Ms} ms, 0 lost`,
    unit: '/s',
    better: 'higher',
    chart: 'throughput',
  },
  {
    key: 'receipt_p50_ms',
    label: 'direct: receipt answer p50 at that rate',
    unit: 'ms',
    better: 'lower',
    chart: 'latency',
  },
  {
    key: 'receipt_p99_ms',
    label: 'direct: receipt answer p99 at that rate',
    unit: 'ms',
    better: 'lower',
    chart: 'latency',
  },
  {
    key: 'delivery_p99_ms',
    label: 'direct: delivery p99 at that rate',
    unit: 'ms',
    better: 'lower',
  },
  {
    key: 'max_achieved_s',
    label: 'direct: highest achieved publishes/s',
    unit: '/s',
    better: 'higher',
  },
  {
    key: 'lost',
    label: 'direct: publishes lost (all steps and the warm-up)',
    unit: 'count',
    better: 'lower',
  },
  {
    key: 'non_200',
    label: 'direct: answers other than 200 (all steps and the warm-up)',
    unit: 'count',
    better: 'lower',
  },
  {
    key: 'unreached',
    label: 'direct: connections not reached by a probe',
    unit: 'count',
    better: 'lower',
  },
  { key: 'dropped', label: 'direct: connections dropped', unit: 'count', better: 'lower' },
];

function stepText(s: DirectStep): string {
  const p99 = (v: number | null) => (v === null ? '-' : fmt(v));
  return (
    `${fmt(s.target)}→${fmt(s.achieved)}/s receipt p99 ${p99(s.receiptP99)} ms ` +
    `delivery p99 ${p99(s.deliveryP99)} ms lost ${s.lost}`
  );
}

/**
 * N SSE connections on no channel; publishes to one connection each (`$connection:<id>`)
 * with a receipt, at a rising fixed rate. thumbtack only.
 */
export function directWorkload(options: BenchOptions): Workload {
  return {
    name: 'direct',
    metrics,
    connections: options.direct,
    unavailable(sut) {
      if (sut !== 'thumbtack')
        return `${sut} has no publish to one connection by id nor delivery receipts`;
      return undefined;
    },
    async run({ sut, fleet, log, backendPort }): Promise<WorkloadResult> {
      const n = options.direct;
      log(`direct: opening ${n} SSE connections, on no channel`);
      const open = await fleet.openSse(
        { host: '127.0.0.1', port: sut.clientPort },
        '/direct/{i}',
        n,
        openOptions(options),
      );
      if (open.opened === 0) {
        return {
          workload: 'direct',
          sut: sut.name,
          status: 'failed',
          note: 'no connection',
          metrics: {},
          summary: 'no connection',
        };
      }
      // The backend saw each connection's Connection-Id; the publisher asks it, as an
      // application would look up the id it recorded for a user.
      const ids = await recordedIds(backendPort);
      const probes = new HttpPublisher(sut.publishUrl);
      const publisher = new ReceiptPublisher(sut.publishUrl, maxInFlight);
      try {
        const publishProbes = async () => {
          const items: PublishItem[] = [];
          for (const id of ids.values()) items.push(probeItem(`$connection:${id}`, 'http-stream'));
          for (let i = 0; i < items.length; i += probeBatch)
            await probes.publish(items.slice(i, i + probeBatch));
        };
        const reached = await probeUntilReached(fleet, publishProbes, open.opened, probeTimeoutMs);
        // Only connections a probe reached by their id: one the system dropped, or whose id
        // the backend never saw, is counted apart, not as lost publishes.
        const live = (await fleet.probedIndices())
          .map((i) => ids.get(i))
          .filter((id): id is string => id !== undefined);
        log(`direct: ${reached}/${open.opened} reached by a probe; publishing to ${live.length}`);
        if (live.length === 0) throw new Error('no connection was reached by a probe');
        let first = 0;
        /** One step at `rate`: publishes, waits for every answer and delivery, counts. */
        const measureStep = async (rate: number, seconds: number): Promise<DirectStep> => {
          await fleet.reset();
          publisher.takeTally();
          const startedAt = performance.now();
          const sent = await publishAtRate(publisher, live, first, rate, seconds * 1000);
          first += sent;
          const tally = publisher.takeTally();
          await awaitDeliveries(fleet, sent, quietMs, drainTimeoutMs);
          const report = await fleet.report();
          const spanS = Math.max(seconds, (tally.lastAnswerAt - startedAt) / 1000);
          const step: DirectStep = {
            target: rate,
            sent,
            answered: tally.answered,
            achieved: Math.round(tally.answered / spanS),
            written: tally.written,
            received: report.received,
            duplicates: report.duplicates,
            receiptP50: round(tally.latency.percentile(50)),
            receiptP99: round(tally.latency.percentile(99)),
            receiptMax: round(tally.latency.max),
            deliveryP50: round(report.latency.percentile(50)),
            deliveryP99: round(report.latency.percentile(99)),
            ...stepLoss(sent, tally.written, report.received),
            non200: tally.non200,
            errors: tally.errors,
            isSustained: false,
          };
          step.isSustained = isSustained(step);
          return step;
        };
        // Unmeasured, as for proxy: the first seconds of a fresh system (JIT, the publisher's
        // 256 new connections) would otherwise weigh on the first step alone.
        const firstRate = options.directRates[0];
        let warmup: DirectStep | undefined;
        if (options.warmup > 0) {
          log(`direct: ${options.warmup} s warm-up at ${firstRate} publishes/s`);
          warmup = await measureStep(firstRate, options.warmup);
          log(`direct: warm-up ${stepText(warmup)}`);
        }
        const steps: DirectStep[] = [];
        for (const rate of options.directRates) {
          log(`direct: ${rate} publishes/s with receipts for ${options.directStep} s`);
          const step = await measureStep(rate, options.directStep);
          log(`direct: ${stepText(step)}`);
          steps.push(step);
          const p99 = step.receiptP99 ?? Infinity;
          const hasErrors = Object.keys(step.errors).length > 0;
          if (step.lost > 0.01 * step.sent || p99 > saturatedP99Ms || hasErrors) break;
        }
        const counts = await fleet.report();
        const { best, maxAchieved } = directHeadline(steps);
        // The warm-up is not measured, but what it lost or had refused is not hidden.
        const counted = warmup ? [warmup, ...steps] : steps;
        const lost = counted.reduce((a, s) => a + s.lost, 0);
        const non200: Record<string, number> = {};
        for (const s of counted)
          for (const [status, k] of Object.entries(s.non200))
            non200[status] = (non200[status] ?? 0) + k;
        const non200Count = Object.values(non200).reduce((a, k) => a + k, 0);
        const wrongReceipts = counted.reduce((a, s) => a + s.receivedNotWritten, 0);
        const duplicates = counted.reduce((a, s) => a + s.duplicates, 0);
        return {
          workload: 'direct',
          sut: sut.name,
          status: 'ok',
          metrics: {
            within_p99_target_s: best ? best.achieved : 0,
            receipt_p50_ms: best ? best.receiptP50 : null,
            receipt_p99_ms: best ? best.receiptP99 : null,
            delivery_p99_ms: best ? best.deliveryP99 : null,
            max_achieved_s: maxAchieved,
            lost,
            non_200: non200Count,
            unreached: open.opened - live.length,
            dropped: counts.dropped,
          },
          note: connectNote(open),
          detail: {
            connections: open.opened,
            idsRecorded: ids.size,
            probeReached: reached,
            connectRetried: open.retried,
            maxInFlight,
            non200,
            wrongReceipts,
            duplicates,
            warmup,
            steps,
          },
          summary:
            `${open.opened} connections, one publish each in turn with ?receipt: ` +
            `${best ? fmt(best.achieved) : 0} publishes/s within receipt p99 ≤ ${directTargetP99Ms} ms ` +
            `(p50 ${best?.receiptP50 == null ? '-' : fmt(best.receiptP50)} ms, ` +
            `p99 ${best?.receiptP99 == null ? '-' : fmt(best.receiptP99)} ms); ` +
            `highest achieved ${fmt(maxAchieved)}/s; lost ${lost}, non-200 ${non200Count > 0 ? describeCounts(non200) : 0}, ` +
            `wrong receipts ${wrongReceipts}, duplicates ${duplicates}; ${open.opened - live.length} not reached by a probe, ` +
            `${counts.dropped} dropped${dropNote(counts.dropReasons)}; steps ${steps.map(stepText).join(', ')}`,
        };
      } finally {
        await publisher.close();
        await probes.close();
      }
    },
  };
}
