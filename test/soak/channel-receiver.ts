import { epochMs } from '../../bench/clock.js';
import type { Histogram } from '../../bench/histogram.js';
import type { ItemSink } from '../../bench/loadgen/delivery-stats.js';
import type { ConnectionRecord, Transport } from './messages.js';

/** The counters a receiver adds to: its generator's, for its transport. */
export interface ReceiverCounters {
  received: number;
  duplicates: number;
  outOfOrder: number;
  misrouted: number;
  latency: Histogram;
}

/** Gap ranges kept per connection; more are merged into the last (a run this bad has failed). */
const gapsMax = 1_000;

/**
 * Item text: `m<position> <publish epoch ms> <channel index>`; `ready` from the backend
 * confirms a WebSocket's subscription.
 */
export function itemText(seq: number, stamp: number, channel: number): string {
  return `m${seq} ${stamp.toFixed(3)} ${channel}`;
}

/**
 * One connection's view of its channel: positions must arrive in order, once. It keeps the
 * first and last position and the ranges skipped between them, so the main process can
 * tell which due items never came without a set per connection.
 */
export class ChannelReceiver implements ItemSink {
  confirmedAt = 0;
  firstSeq = 0;
  lastSeq = 0;
  private gaps: [number, number][] = [];
  private duplicates = 0;
  private outOfOrder = 0;
  /** Called after each new position (a draining connection waits for one). */
  onProgress: (() => void) | undefined;
  /** Called when the server ends the connection. */
  onEnd: ((reason: string) => void) | undefined;
  /** Called once, when the subscription is confirmed. */
  onConfirm: (() => void) | undefined;

  constructor(
    readonly transport: Transport,
    readonly channel: number,
    private readonly counters: ReceiverCounters,
  ) {}

  confirm(): void {
    if (this.confirmedAt !== 0) return;
    this.confirmedAt = epochMs();
    this.onConfirm?.();
  }

  onItem(text: string, from: number, to: number, now: number): number {
    const kind = text.charCodeAt(from);
    if (kind === 0x72 /* r: ready */) {
      this.confirm();
      return 0;
    }
    if (kind !== 0x6d /* m */) return 0;
    const first = text.indexOf(' ', from);
    const second = first === -1 ? -1 : text.indexOf(' ', first + 1);
    if (second === -1 || second >= to) return 0;
    if (Number(text.slice(second + 1, to)) !== this.channel) {
      this.counters.misrouted++;
      return 0;
    }
    return this.accept(
      Number(text.slice(from + 1, first)),
      Number(text.slice(first + 1, second)),
      now,
    );
  }

  /** Position `seq` published at `stamp` arrived at `now`: 1 when it is new. */
  accept(seq: number, stamp: number, now: number): number {
    const { counters } = this;
    if (seq > this.lastSeq) {
      if (this.firstSeq === 0) this.firstSeq = seq;
      else if (seq > this.lastSeq + 1) this.addGap(this.lastSeq + 1, seq - 1);
      this.lastSeq = seq;
    } else if (this.fillGap(seq)) {
      this.outOfOrder++;
      counters.outOfOrder++;
    } else {
      this.duplicates++;
      counters.duplicates++;
      return 0;
    }
    counters.received++;
    counters.latency.record(now - stamp);
    this.onProgress?.();
    return 1;
  }

  onDrop(reason: string): void {
    this.onEnd?.(reason);
  }

  /** The record of this connection, due up to `endSeq`. */
  record(endSeq: number, dropped?: string, startSeq?: number): ConnectionRecord {
    return {
      transport: this.transport,
      channel: this.channel,
      confirmedAt: this.confirmedAt,
      startSeq,
      firstSeq: this.firstSeq,
      lastSeq: this.lastSeq,
      gaps: this.gaps,
      endSeq,
      duplicates: this.duplicates,
      outOfOrder: this.outOfOrder,
      dropped,
    };
  }

  private addGap(from: number, to: number): void {
    if (this.gaps.length < gapsMax) this.gaps.push([from, to]);
    else this.gaps[gapsMax - 1][1] = to;
  }

  /** Takes in a late position (from a gap, or before the first); false for a duplicate. */
  private fillGap(seq: number): boolean {
    if (seq < this.firstSeq) {
      if (seq < this.firstSeq - 1) this.gaps.unshift([seq + 1, this.firstSeq - 1]);
      this.firstSeq = seq;
      return true;
    }
    for (let i = 0; i < this.gaps.length; i++) {
      const [from, to] = this.gaps[i];
      if (seq < from || seq > to) continue;
      const rest: [number, number][] = [];
      if (from < seq) rest.push([from, seq - 1]);
      if (seq < to) rest.push([seq + 1, to]);
      this.gaps.splice(i, 1, ...rest);
      return true;
    }
    return false;
  }
}
