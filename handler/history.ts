import { comparePositions } from '../src/ipc/redis-entry.js';

/*
 * Each channel's history of deliveries, kept whether or not the channel has listeners,
 * bounded by count and bytes per channel, by total bytes and by age. Two uses:
 * - The subscribe race: a proxy worker subscribes on the bus only after its backend
 *   answered with GRIP instructions, so a publish made a moment earlier would otherwise be
 *   lost; the bus re-sends a channel's last few seconds (`recent`) when a subscription for
 *   it arrives, and the worker dedupes by seq and decides per connection by time.
 * - Resume: a hold whose backend gave `prev-id` gets the items after that id (`resume`).
 * Frames are stored encoded, so a replay never re-encodes.
 */

/** How far back the replay on a new subscription reaches (the subscribe race). */
export const subscribeReplayMs = 5_000;

export interface HistoryOptions {
  /** How long a delivery is kept (--history-ttl). */
  maxAgeMs?: number;
  /** How far back a new subscription's replay reaches (at most maxAgeMs). */
  replayMs?: number;
  /** Deliveries kept per channel (--history-size); the oldest go first. */
  perChannelMax?: number;
  /** Payload bytes kept per channel (--history-max-bytes); the oldest go first. */
  perChannelBytesMax?: number;
  /** Payload bytes kept over all channels; the oldest go first. */
  totalBytesMax?: number;
  /** Deliveries kept over all channels (each costs a few hundred bytes beyond its payload). */
  totalEntriesMax?: number;
  now?: () => number;
}

/** What a delivery is, beyond its frames. */
export interface EntryInfo {
  /** The bus seq the frames carry. */
  seq: number;
  /** The item's id, which a hold's prev-id names. */
  id?: string;
  /** The item's prev-id: a hold at that position is followed by this item. */
  prevId?: string;
  /** Its position in Redis (many nodes): an entry already kept is not added twice. */
  position?: string;
}

/** What a channel's history says about the items after a prev-id. */
export type ResumeAnswer =
  /** The items after it, oldest first (possibly none: it is the channel's last item). */
  | { kind: 'after'; frames: Buffer[][]; seq: number }
  /**
   * The channel's last item has an id, not this one, and history does not reach it.
   * `seq`: that last item's bus seq; what comes after it follows the gap.
   */
  | { kind: 'gap'; lastId: string; seq: number }
  /** Nothing to go by: no history, or its last item has no id. */
  | { kind: 'unknown' };

interface Entry extends EntryInfo {
  channel: string;
  frames: Buffer[];
  bytes: number;
  addedAt: number;
  /** False once evicted; the age queue drops such entries lazily. */
  isLive: boolean;
}

export class History {
  private maxAgeMs: number;
  private replayMs: number;
  private perChannelMax: number;
  private perChannelBytesMax: number;
  /** Bytes per channel, for perChannelBytesMax. */
  private readonly channelBytes = new Map<string, number>();
  private readonly totalBytesMax: number;
  private readonly totalEntriesMax: number;
  private readonly now: () => number;
  private readonly byChannel = new Map<string, Entry[]>();
  /** Every entry in insertion (= age) order; `head` is the first not yet dropped. */
  private queue: Entry[] = [];
  private head = 0;
  private totalBytes = 0;
  private liveCount = 0;

  constructor(options: HistoryOptions = {}) {
    this.maxAgeMs = options.maxAgeMs ?? 5000;
    this.replayMs = Math.min(options.replayMs ?? subscribeReplayMs, this.maxAgeMs);
    this.perChannelMax = options.perChannelMax ?? 100;
    this.perChannelBytesMax = options.perChannelBytesMax ?? 1024 * 1024;
    this.totalBytesMax = options.totalBytesMax ?? 64 * 1024 * 1024;
    this.totalEntriesMax = options.totalEntriesMax ?? 200_000;
    this.now = options.now ?? Date.now;
  }

  /** A reload's --history-* values: entries past them go at the next add or prune. */
  setLimits(
    options: Pick<HistoryOptions, 'maxAgeMs' | 'perChannelMax' | 'perChannelBytesMax'>,
  ): void {
    if (options.maxAgeMs !== undefined) {
      this.maxAgeMs = options.maxAgeMs;
      this.replayMs = Math.min(subscribeReplayMs, this.maxAgeMs);
    }
    if (options.perChannelMax !== undefined) this.perChannelMax = options.perChannelMax;
    if (options.perChannelBytesMax !== undefined) {
      this.perChannelBytesMax = options.perChannelBytesMax;
    }
  }

  /**
   * Keeps a delivery; `addedAt` defaults to now (an older entry read back from Redis
   * passes its own). False when its position is not after the channel's last one.
   */
  add(channel: string, frames: Buffer[], info: EntryInfo = { seq: 0 }, addedAt?: number): boolean {
    const now = this.now();
    this.prune(now);
    let list = this.byChannel.get(channel);
    const last = list?.[list.length - 1];
    if (info.position !== undefined && last?.position !== undefined) {
      if (comparePositions(info.position, last.position) <= 0) return false;
    }
    let bytes = 0;
    for (const frame of frames) bytes += frame.length;
    if (bytes > this.totalBytesMax || bytes > this.perChannelBytesMax) return true;
    // Every field written, in one order: one object shape (a spread of `info` made each
    // add a slow copy).
    const entry: Entry = {
      seq: info.seq,
      id: info.id,
      prevId: info.prevId,
      position: info.position,
      channel,
      frames,
      bytes,
      addedAt: addedAt ?? now,
      isLive: true,
    };
    if (!list) {
      list = [];
      this.byChannel.set(channel, list);
    }
    list.push(entry);
    this.queue.push(entry);
    this.totalBytes += bytes;
    this.channelBytes.set(channel, (this.channelBytes.get(channel) ?? 0) + bytes);
    this.liveCount++;
    while (
      list.length > this.perChannelMax ||
      this.channelBytes.get(channel)! > this.perChannelBytesMax
    ) {
      this.evict(list.shift()!);
    }
    while (this.totalBytes > this.totalBytesMax || this.liveCount > this.totalEntriesMax) {
      this.evictOldest();
    }
    this.compact();
    return true;
  }

  /** The channel's deliveries of the replay window, oldest first. */
  recent(channel: string): Buffer[][] {
    const list = this.byChannel.get(channel);
    if (!list) return [];
    const threshold = this.now() - this.replayMs;
    const out: Buffer[][] = [];
    for (const entry of list) if (entry.addedAt > threshold) out.push(entry.frames);
    return out;
  }

  /** What follows the item `prevId` on the channel, as far as history knows. */
  resume(channel: string, prevId: string): ResumeAnswer {
    const list = this.byChannel.get(channel);
    const last = list?.[list.length - 1];
    if (!list || !last || last.id === undefined) return { kind: 'unknown' };
    for (let at = list.length - 1; at >= 0; at--) {
      const entry = list[at]!;
      // The prev-id item itself, or (when it never passed through here, e.g. the backend
      // wrote it into its answer) the item that names it as its prev-id.
      const from = entry.id === prevId ? at + 1 : entry.prevId === prevId ? at : -1;
      if (from < 0) continue;
      const seq = from > 0 ? list[from - 1]!.seq : 0;
      return { kind: 'after', frames: list.slice(from).map((e) => e.frames), seq };
    }
    return { kind: 'gap', lastId: last.id, seq: last.seq };
  }

  /** The seq of the channel's last entry, if any. */
  lastSeq(channel: string): number | undefined {
    const list = this.byChannel.get(channel);
    return list?.[list.length - 1]?.seq;
  }

  /** The position of the channel's last entry read from Redis, if any. */
  lastPosition(channel: string): string | undefined {
    const list = this.byChannel.get(channel);
    return list?.[list.length - 1]?.position;
  }

  /** Drops expired deliveries; call it now and then so an idle handler frees memory. */
  prune(now = this.now()): void {
    const threshold = now - this.maxAgeMs;
    while (this.head < this.queue.length) {
      const entry = this.queue[this.head]!;
      if (entry.isLive && entry.addedAt > threshold) break;
      if (entry.isLive) this.drop(entry);
      this.head++;
    }
    this.compact();
  }

  get size(): number {
    return this.liveCount;
  }

  /** Entries the age queue holds, live or evicted (for tests of its bound). */
  get queueLength(): number {
    return this.queue.length - this.head;
  }

  get bytes(): number {
    return this.totalBytes;
  }

  clear(): void {
    this.byChannel.clear();
    this.channelBytes.clear();
    this.queue = [];
    this.head = 0;
    this.totalBytes = 0;
    this.liveCount = 0;
  }

  /** Removes the globally oldest live entry (also its channel's oldest). */
  private evictOldest(): void {
    while (this.head < this.queue.length) {
      const entry = this.queue[this.head++]!;
      if (!entry.isLive) continue;
      this.drop(entry);
      break;
    }
    this.compact();
  }

  /** Evicts an entry that is the oldest of its channel, and forgets an emptied channel. */
  private drop(entry: Entry): void {
    this.evict(entry);
    const list = this.byChannel.get(entry.channel)!;
    list.shift();
    if (list.length === 0) this.byChannel.delete(entry.channel);
  }

  private evict(entry: Entry): void {
    entry.isLive = false;
    entry.frames = [];
    this.totalBytes -= entry.bytes;
    this.liveCount--;
    const left = this.channelBytes.get(entry.channel)! - entry.bytes;
    if (left > 0) this.channelBytes.set(entry.channel, left);
    else this.channelBytes.delete(entry.channel);
  }

  private compact(): void {
    // Entries evicted by a channel's count or bytes bound stay in the age queue until they
    // reach its head, which may take the whole TTL: once they outnumber the live ones they
    // are dropped, so a busy channel does not keep minutes of dead entries.
    const dead = this.queue.length - this.head - this.liveCount;
    if (dead > 1024 && dead > this.liveCount) {
      this.queue = this.queue.slice(this.head).filter((entry) => entry.isLive);
      this.head = 0;
    } else if (this.head > 1024 && this.head * 2 > this.queue.length) {
      this.queue = this.queue.slice(this.head);
      this.head = 0;
    }
  }
}
