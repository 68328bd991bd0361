import { Histogram } from '../../bench/histogram.js';
import type { ConnectionRecord, Transport, TransportSample } from './messages.js';
import type { PublishLog } from './publish-log.js';

/** What a connection was due and what of it came, by the definition in test/soak/README.md. */
export interface Reconciled {
  /** Positions due: published after the subscription was confirmed (long-poll: after its
   * first prev-id) and acknowledged before the client chose to close. */
  expected: number;
  delivered: number;
  lost: number;
  /** The first due position that never came, for the report; 0 when none. */
  firstLost: number;
}

/**
 * Compares one ended connection with the publish log. Due positions run from the first one
 * published after confirmation to `endSeq`; received ones are [firstSeq, lastSeq] less the
 * gaps. A dropped connection is due nothing past what it got (the drop is counted apart).
 */
export function reconcile(record: ConnectionRecord, log: PublishLog): Reconciled {
  const none = { expected: 0, delivered: 0, lost: 0, firstLost: 0 };
  if (record.confirmedAt === 0) return none;
  const start = record.startSeq ?? log.firstAfter(record.channel, record.confirmedAt);
  const end = record.endSeq;
  if (end < start) return none;
  const expected = end - start + 1;
  if (record.firstSeq === 0) return { expected, delivered: 0, lost: expected, firstLost: start };
  const lo = Math.max(start, record.firstSeq);
  const hi = Math.min(end, record.lastSeq);
  let delivered = hi >= lo ? hi - lo + 1 : 0;
  let firstGap = 0;
  for (const [from, to] of record.gaps) {
    const a = Math.max(from, lo);
    const b = Math.min(to, hi);
    if (b < a) continue;
    delivered -= b - a + 1;
    if (firstGap === 0) firstGap = a;
  }
  const firstLost =
    record.firstSeq > start ? start : firstGap || Math.max(start, record.lastSeq + 1);
  const lost = expected - delivered;
  return { expected, delivered, lost, firstLost: lost > 0 ? firstLost : 0 };
}

/** Running figures of one transport, over the run or over one interval. */
export class TransportTally {
  opened = 0;
  openFailed = 0;
  closed = 0;
  dropped = 0;
  open = 0;
  received = 0;
  duplicated = 0;
  outOfOrder = 0;
  misrouted = 0;
  polls = 0;
  resumed = 0;
  gapAnswers = 0;
  connections = 0;
  expected = 0;
  delivered = 0;
  lost = 0;
  readonly latency = new Histogram();
  readonly errors: Record<string, number> = {};

  addSample(s: TransportSample): void {
    this.opened += s.opened;
    this.openFailed += s.openFailed;
    this.closed += s.closed;
    this.dropped += s.dropped;
    this.open += s.open;
    this.received += s.received;
    this.duplicated += s.duplicates;
    this.outOfOrder += s.outOfOrder;
    this.misrouted += s.misrouted;
    this.polls += s.polls;
    this.resumed += s.resumed;
    this.gapAnswers += s.gapAnswers;
    this.latency.merge(s.latency);
    for (const [k, n] of Object.entries(s.errors)) this.errors[k] = (this.errors[k] ?? 0) + n;
  }

  addRecord(r: Reconciled): void {
    this.connections++;
    this.expected += r.expected;
    this.delivered += r.delivered;
    this.lost += r.lost;
  }

  /** Adds another tally's figures (for the sum over transports). */
  addTally(other: TransportTally): void {
    for (const key of countKeys) this[key] += other[key];
    this.latency.merge(other.latency.toData());
    for (const [k, n] of Object.entries(other.errors)) this.errors[k] = (this.errors[k] ?? 0) + n;
  }

  /** Plain figures for the JSON (latency as percentiles, ms). */
  toJSON(): Record<string, unknown> {
    const { latency, ...rest } = this;
    return {
      ...rest,
      latencyMs: {
        p50: round(latency.percentile(50)),
        p99: round(latency.percentile(99)),
        max: round(latency.max),
        count: latency.count,
      },
    };
  }
}

const countKeys = [
  'opened',
  'openFailed',
  'closed',
  'dropped',
  'open',
  'received',
  'duplicated',
  'outOfOrder',
  'misrouted',
  'polls',
  'resumed',
  'gapAnswers',
  'connections',
  'expected',
  'delivered',
  'lost',
] as const;

export function round(ms: number): number | null {
  return Number.isFinite(ms) ? Math.round(ms * 10) / 10 : null;
}

export type TallyByTransport = Record<Transport, TransportTally>;
