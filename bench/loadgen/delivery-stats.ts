import { Histogram, type HistogramData } from '../histogram.js';

/** What one generator saw of published items since the last reset. */
export interface DeliveryCounts {
  received: number;
  duplicates: number;
  /** Received after an item published later (counted in `received` too). */
  outOfOrder: number;
  /** Connections that received at least one probe item. */
  probed: number;
  /** Connections that ended while they should have stayed open. */
  dropped: number;
  /** Latest receipt time (epoch ms) of a measured item; 0 if none. */
  lastReceiptAt: number;
}

export interface DeliveryReport extends DeliveryCounts {
  latency: HistogramData;
  /** Why connections dropped: reason → count. */
  dropReasons: Record<string, number>;
  /** Measured items that shared one HTTP chunk (one server write) with another item. */
  chunkShared: number;
  /** Measured items that shared one socket read with another item. */
  readShared: number;
  maxItemsPerChunk: number;
  maxItemsPerRead: number;
}

/**
 * Counters for published items, shared by every connection of a generator. Item text is
 * `m<seq> <epoch ms>` for measured items and `p<n>` for probes; the per-connection state
 * (last sequence number, probe flag) lives on the connection.
 */
export class DeliveryStats {
  readonly latency = new Histogram();
  received = 0;
  duplicates = 0;
  outOfOrder = 0;
  probed = 0;
  dropped = 0;
  dropReasons: Record<string, number> = {};
  lastReceiptAt = 0;
  /** Bumped by reset(): a connection then forgets the items of the phase before. */
  phase = 0;
  chunkShared = 0;
  readShared = 0;
  maxItemsPerChunk = 0;
  maxItemsPerRead = 0;

  /**
   * Zeroes what a measurement phase counts, probes included: a probe published after a
   * reset is waited for, not taken as reached by the probes of the phase before. Drops
   * count since the connections opened.
   */
  reset(): void {
    this.phase++;
    this.probed = 0;
    this.latency.reset();
    this.received = 0;
    this.duplicates = 0;
    this.outOfOrder = 0;
    this.lastReceiptAt = 0;
    this.chunkShared = 0;
    this.readShared = 0;
    this.maxItemsPerChunk = 0;
    this.maxItemsPerRead = 0;
  }

  /** Everything back to zero, for a new set of connections. */
  clear(): void {
    this.reset();
    this.dropped = 0;
    this.dropReasons = {};
  }

  onDrop(reason: string): void {
    this.dropped++;
    this.dropReasons[reason] = (this.dropReasons[reason] ?? 0) + 1;
  }

  counts(): DeliveryCounts {
    const { received, duplicates, outOfOrder, probed, dropped, lastReceiptAt } = this;
    return { received, duplicates, outOfOrder, probed, dropped, lastReceiptAt };
  }

  report(): DeliveryReport {
    return {
      ...this.counts(),
      latency: this.latency.toData(),
      dropReasons: this.dropReasons,
      chunkShared: this.chunkShared,
      readShared: this.readShared,
      maxItemsPerChunk: this.maxItemsPerChunk,
      maxItemsPerRead: this.maxItemsPerRead,
    };
  }

  onChunk(items: number): void {
    if (items > 1) this.chunkShared += items;
    if (items > this.maxItemsPerChunk) this.maxItemsPerChunk = items;
  }

  onRead(items: number): void {
    if (items > 1) this.readShared += items;
    if (items > this.maxItemsPerRead) this.maxItemsPerRead = items;
  }
}

/**
 * What a held connection hands each item's text to: ItemReceiver for the bench, another
 * checker where items are counted differently (the soak's per-channel positions).
 */
export interface ItemSink {
  readonly isProbed?: boolean;
  /** As ItemReceiver.onItem: the item in text[from, to), received at `now`; 1 if measured. */
  onItem(text: string, from: number, to: number, now: number): number;
  /** The connection ended after opening without being asked to close. */
  onDrop?(reason: string): void;
}

/** Per-connection state for items, and the parser of one item's text. */
export class ItemReceiver implements ItemSink {
  lastSeq = -1;
  /** The phase in which this connection last received a probe. */
  private probedPhase = -1;
  /**
   * This phase's items, so that one published concurrently with another (no order between
   * them) counts as received out of order, and only a repeat as a duplicate.
   */
  private readonly seen = new Set<number>();
  private phase = 0;

  constructor(private readonly stats: DeliveryStats) {}

  /** Received a probe since the last reset. */
  get isProbed(): boolean {
    return this.probedPhase === this.stats.phase;
  }

  /**
   * Handles the item in text[from, to): returns 1 for a measured item, 0 otherwise.
   * `now` is the receipt time of the read that completed it.
   */
  onItem(text: string, from: number, to: number, now: number): number {
    const kind = text.charCodeAt(from);
    if (kind === 0x70 /* p */) {
      if (this.probedPhase !== this.stats.phase) {
        this.probedPhase = this.stats.phase;
        this.stats.probed++;
      }
      return 0;
    }
    if (kind !== 0x6d /* m */) return 0;
    const space = text.indexOf(' ', from);
    if (space === -1 || space >= to) return 0;
    const seq = Number(text.slice(from + 1, space));
    const stamp = Number(text.slice(space + 1, to));
    const { stats } = this;
    if (this.phase !== stats.phase) {
      this.phase = stats.phase;
      this.seen.clear();
    }
    if (this.seen.has(seq)) {
      stats.duplicates++;
      return 0;
    }
    this.seen.add(seq);
    if (seq < this.lastSeq) stats.outOfOrder++;
    else this.lastSeq = seq;
    stats.received++;
    stats.latency.record(now - stamp);
    if (now > stats.lastReceiptAt) stats.lastReceiptAt = now;
    return 1;
  }
}
