/*
 * Recent deliveries per channel, kept whether or not the channel has listeners. A proxy
 * worker subscribes on the bus only after its backend answered with GRIP instructions, so
 * a publish made a moment earlier would otherwise be lost; the bus re-sends a channel's
 * recent deliveries when a subscription for it arrives, and the worker dedupes by seq and
 * decides per connection by time. Frames are stored encoded, so a replay never re-encodes.
 */

export interface HistoryOptions {
  /** How long a delivery stays replayable. */
  maxAgeMs?: number;
  /** Deliveries kept per channel; the oldest go first. */
  perChannelMax?: number;
  /** Payload bytes kept over all channels; the oldest go first. */
  totalBytesMax?: number;
  now?: () => number;
}

interface Entry {
  channel: string;
  frames: Buffer[];
  bytes: number;
  addedAt: number;
  /** False once evicted; the age queue drops such entries lazily. */
  isLive: boolean;
}

export class History {
  private readonly maxAgeMs: number;
  private readonly perChannelMax: number;
  private readonly totalBytesMax: number;
  private readonly now: () => number;
  private readonly byChannel = new Map<string, Entry[]>();
  /** Every entry in insertion (= age) order; `head` is the first not yet dropped. */
  private queue: Entry[] = [];
  private head = 0;
  private totalBytes = 0;
  private liveCount = 0;

  constructor(options: HistoryOptions = {}) {
    this.maxAgeMs = options.maxAgeMs ?? 5000;
    this.perChannelMax = options.perChannelMax ?? 100;
    this.totalBytesMax = options.totalBytesMax ?? 64 * 1024 * 1024;
    this.now = options.now ?? Date.now;
  }

  add(channel: string, frames: Buffer[]): void {
    const now = this.now();
    this.prune(now);
    let bytes = 0;
    for (const frame of frames) bytes += frame.length;
    if (bytes > this.totalBytesMax) return;
    const entry: Entry = { channel, frames, bytes, addedAt: now, isLive: true };
    let list = this.byChannel.get(channel);
    if (!list) {
      list = [];
      this.byChannel.set(channel, list);
    }
    list.push(entry);
    this.queue.push(entry);
    this.totalBytes += bytes;
    this.liveCount++;
    if (list.length > this.perChannelMax) this.evict(list.shift()!);
    while (this.totalBytes > this.totalBytesMax) this.evictOldest();
  }

  /** The channel's deliveries still within the age limit, oldest first. */
  recent(channel: string): Buffer[][] {
    const list = this.byChannel.get(channel);
    if (!list) return [];
    const threshold = this.now() - this.maxAgeMs;
    const out: Buffer[][] = [];
    for (const entry of list) if (entry.addedAt > threshold) out.push(entry.frames);
    return out;
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

  get bytes(): number {
    return this.totalBytes;
  }

  clear(): void {
    this.byChannel.clear();
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
  }

  private compact(): void {
    if (this.head > 1024 && this.head * 2 > this.queue.length) {
      this.queue = this.queue.slice(this.head);
      this.head = 0;
    }
  }
}
