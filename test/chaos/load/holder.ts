/*
 * A held client of one channel, on any transport: it counts the numbered items of the
 * publish stream it receives (`i<seq>`), and the probes (`probe`) that tell it is
 * subscribed. With a reconnect delay it opens a new connection after one ends (as
 * EventSource does); each connection is one segment of its life.
 */

export type HolderKind = 'sse' | 'ws' | 'long-poll';

/** One connection of a holder. */
export interface HeldSegment {
  requestedAt: number;
  openedAt?: number;
  closedAt?: number;
  /** Why it ended; `stopped` when the scenario ended it. */
  closeReason?: string;
  /** The client's local port, to find the worker holding it. */
  localPort?: number;
}

/** The text a publish stream's item carries: `i<seq>`. */
export function itemText(seq: number): string {
  return `i${seq}`;
}

export const probeText = 'probe';

export abstract class Holder {
  /** Item sequence numbers received, in order of arrival (duplicates included). */
  readonly received: number[] = [];
  readonly segments: HeldSegment[] = [];
  probes = 0;
  private isStopped = false;
  private reconnectTimer: NodeJS.Timeout | undefined;

  constructor(
    readonly kind: HolderKind,
    /** Open a new connection this long after one ends; undefined: stay closed. */
    private readonly reconnectAfterMs: number | undefined,
  ) {}

  protected abstract connect(segment: HeldSegment): void;
  protected abstract disconnect(): void;

  start(): this {
    const segment: HeldSegment = { requestedAt: Date.now() };
    this.segments.push(segment);
    this.connect(segment);
    return this;
  }

  get current(): HeldSegment {
    return this.segments[this.segments.length - 1]!;
  }

  isOpen(): boolean {
    return this.current.openedAt !== undefined && this.current.closedAt === undefined;
  }

  /** Connections that ended without the scenario asking (failed opens included). */
  get losses(): HeldSegment[] {
    return this.segments.filter((s) => s.closedAt !== undefined && s.closeReason !== 'stopped');
  }

  /** Ends it for good; not counted as lost. */
  stop(): void {
    this.isStopped = true;
    clearTimeout(this.reconnectTimer);
    const segment = this.current;
    if (segment.closedAt === undefined) {
      segment.closedAt = Date.now();
      segment.closeReason = 'stopped';
    }
    this.disconnect();
  }

  protected onOpened(segment: HeldSegment): void {
    if (segment.openedAt === undefined) segment.openedAt = Date.now();
  }

  /** One message: an item, a probe, or something else (ignored here). */
  protected onText(text: string): void {
    if (text === probeText) this.probes++;
    else if (text.charCodeAt(0) === 0x69 /* i */) {
      const seq = Number(text.slice(1));
      if (Number.isInteger(seq)) this.received.push(seq);
    }
  }

  protected onClosed(segment: HeldSegment, reason: string): void {
    if (segment.closedAt !== undefined) return;
    segment.closedAt = Date.now();
    segment.closeReason = reason;
    if (this.isStopped || this.reconnectAfterMs === undefined) return;
    this.reconnectTimer = setTimeout(() => {
      if (!this.isStopped) this.start();
    }, this.reconnectAfterMs);
  }
}

/**
 * Starts `count` holders, `concurrency` opening at once, and resolves when each is open;
 * rejects (bounded) naming why some did not open.
 */
export async function openHolders<T extends Holder>(
  make: (index: number) => T,
  count: number,
  { concurrency = 50, timeoutMs = 15_000 } = {},
): Promise<T[]> {
  const holders: T[] = [];
  const deadline = Date.now() + timeoutMs;
  for (let first = 0; first < count; first += concurrency) {
    const batch: T[] = [];
    for (let i = first; i < Math.min(count, first + concurrency); i++) batch.push(make(i).start());
    holders.push(...batch);
    await waitFor(
      () =>
        batch.every((h) => h.current.openedAt !== undefined || h.current.closedAt !== undefined),
      deadline,
      () => `${batch.filter((h) => h.current.openedAt === undefined).length} holders not open`,
    );
    const failed = batch.filter((h) => h.current.openedAt === undefined);
    if (failed.length > 0) {
      for (const h of holders) h.stop();
      const reasons = [...new Set(failed.map((h) => h.current.closeReason))].join(', ');
      throw new Error(
        `${failed.length} of ${batch.length} ${batch[0]!.kind} holders did not open: ${reasons}`,
      );
    }
  }
  return holders;
}

/** Polls a condition every 20 ms until `deadline` (epoch ms); rejects with `what()`. */
export async function waitFor(
  condition: () => boolean,
  deadline: number,
  what: () => string,
): Promise<void> {
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out: ${what()}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
