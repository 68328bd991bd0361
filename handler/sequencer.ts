import type { PublishItem } from '../src/grip/publish-types.js';

/*
 * Publish-side ordering per channel, as Pushpin's sequencer does it (protocol 2.6):
 * duplicate (channel, id) suppression, a reorder buffer keyed by prev-id that waits for
 * the missing item at most `messageWaitMs`, and the channel's last id forgotten when the
 * channel loses its last listener.
 */

/** `position`: the item's place in its channel's Redis stream (many nodes). */
export type ReleaseItem = (item: PublishItem, time: number, position?: string) => void;

export interface SequencerOptions {
  /** Called with each item in delivery order; `time` is when the handler accepted it. */
  release: ReleaseItem;
  /** Longest an out-of-order item waits for its predecessor (Pushpin's message_wait). */
  messageWaitMs?: number;
  /** Window in which a repeated (channel, id) is dropped; 0 turns it off (id_cache_ttl). */
  idCacheTtlMs?: number;
  /** Buffered items per channel (a fixed limit in Pushpin). */
  pendingMax?: number;
  /** How often buffered items are checked for expiry; Pushpin checks every second. */
  checkIntervalMs?: number;
  /** Bound on remembered ids, so a flood of unique ids cannot grow memory without limit. */
  idCacheMax?: number;
  now?: () => number;
}

interface Pending {
  item: PublishItem;
  time: number;
  position: string | undefined;
  bufferedAt: number;
}

export class Sequencer {
  private readonly release: ReleaseItem;
  private readonly messageWaitMs: number;
  private readonly idCacheTtlMs: number;
  private readonly pendingMax: number;
  private readonly checkIntervalMs: number;
  private readonly idCacheMax: number;
  private readonly now: () => number;

  private readonly lastIds = new Map<string, string>();
  /** channel → prev-id → buffered item waiting for that prev-id. */
  private readonly pendingByChannel = new Map<string, Map<string, Pending>>();
  /** Every buffered item in buffering order, for expiry. */
  private readonly pendingByAge = new Set<Pending>();
  /** Duplicate cache: the (channel, id) keys seen within the TTL. */
  private readonly seenIds = new Set<string>();
  /**
   * The same keys in insertion order, which is also expiry order (the TTL is fixed), from
   * `seenHead` on. A key leaves the set only from here, so each has one entry. (Expiring by
   * iterating a Map from its start walks over every deleted slot on each publish.)
   */
  private seenQueue: { key: string; expires: number }[] = [];
  private seenHead = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(options: SequencerOptions) {
    this.release = options.release;
    this.messageWaitMs = options.messageWaitMs ?? 5000;
    this.idCacheTtlMs = options.idCacheTtlMs ?? 60_000;
    this.pendingMax = options.pendingMax ?? 100;
    this.checkIntervalMs = options.checkIntervalMs ?? 1000;
    this.idCacheMax = options.idCacheMax ?? 100_000;
    this.now = options.now ?? Date.now;
  }

  /**
   * Takes one accepted item. `sequence` is false when the channel has no listeners or
   * the item is `no-seq`: it is then released at once and the last id is left alone.
   */
  add(item: PublishItem, time: number, sequence: boolean, position?: string): void {
    const now = this.now();
    if (item.id !== undefined && this.idCacheTtlMs > 0 && this.isDuplicate(item, now)) return;
    if (!sequence) {
      this.release(item, time, position);
      return;
    }
    const last = this.lastIds.get(item.channel);
    if (last !== undefined && item.prevId !== undefined && item.prevId !== last) {
      this.buffer(item, time, position, now);
      return;
    }
    this.send(item, time, position);
  }

  /** The channel lost its last listener: buffered items are dropped and its last id forgotten. */
  forgetChannel(channel: string): void {
    const pending = this.pendingByChannel.get(channel);
    if (pending) {
      for (const entry of pending.values()) this.pendingByAge.delete(entry);
      this.pendingByChannel.delete(channel);
      this.stopTimerIfIdle();
    }
    this.lastIds.delete(channel);
  }

  /** `POST /recover`: every channel's last id is forgotten. */
  recover(): void {
    this.lastIds.clear();
  }

  lastId(channel: string): string | undefined {
    return this.lastIds.get(channel);
  }

  get pendingCount(): number {
    return this.pendingByAge.size;
  }

  close(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.pendingByChannel.clear();
    this.pendingByAge.clear();
  }

  private isDuplicate(item: PublishItem, now: number): boolean {
    const queue = this.seenQueue;
    while (this.seenHead < queue.length) {
      const oldest = queue[this.seenHead]!;
      if (oldest.expires > now && this.seenIds.size <= this.idCacheMax) break;
      this.seenIds.delete(oldest.key);
      this.seenHead++;
    }
    if (this.seenHead > 1024 && this.seenHead * 2 > queue.length) {
      this.seenQueue = queue.slice(this.seenHead);
      this.seenHead = 0;
    }
    // Length-prefixing the channel keeps (channel, id) pairs from colliding.
    const key = `${item.channel.length}:${item.channel}${item.id}`;
    if (this.seenIds.has(key)) return true;
    this.seenIds.add(key);
    this.seenQueue.push({ key, expires: now + this.idCacheTtlMs });
    return false;
  }

  private buffer(item: PublishItem, time: number, position: string | undefined, now: number): void {
    let pending = this.pendingByChannel.get(item.channel);
    if (!pending) {
      pending = new Map();
      this.pendingByChannel.set(item.channel, pending);
    }
    // Pushpin keeps the first item waiting on a prev-id and drops later ones.
    if (pending.has(item.prevId!) || pending.size >= this.pendingMax) return;
    const entry: Pending = { item, time, position, bufferedAt: now };
    pending.set(item.prevId!, entry);
    this.pendingByAge.add(entry);
    if (!this.timer) {
      this.timer = setInterval(() => this.expire(), this.checkIntervalMs);
      this.timer.unref();
    }
  }

  private send(item: PublishItem, time: number, position?: string): void {
    let next: Pending | undefined = { item, time, position, bufferedAt: 0 };
    const pending = this.pendingByChannel.get(item.channel);
    while (next) {
      if (next.item.id !== undefined) this.lastIds.set(next.item.channel, next.item.id);
      else this.lastIds.delete(next.item.channel);
      this.release(next.item, next.time, next.position);
      const id: string | undefined = next.item.id;
      next = id !== undefined ? pending?.get(id) : undefined;
      if (next) {
        pending!.delete(id!);
        this.pendingByAge.delete(next);
      }
    }
    if (pending && pending.size === 0) {
      this.pendingByChannel.delete(item.channel);
      this.stopTimerIfIdle();
    }
  }

  private expire(): void {
    const threshold = this.now() - this.messageWaitMs;
    for (const entry of this.pendingByAge) {
      if (entry.bufferedAt > threshold) break;
      this.pendingByAge.delete(entry);
      const pending = this.pendingByChannel.get(entry.item.channel);
      pending?.delete(entry.item.prevId!);
      if (pending && pending.size === 0) this.pendingByChannel.delete(entry.item.channel);
      this.send(entry.item, entry.time, entry.position);
    }
    this.stopTimerIfIdle();
  }

  private stopTimerIfIdle(): void {
    if (this.pendingByAge.size === 0 && this.timer) {
      clearInterval(this.timer);
      this.timer = undefined;
    }
  }
}
