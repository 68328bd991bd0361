import type { Tally } from '../../src/ipc/bus-answer.js';

/** Everything the answerers (workers, or nodes) said about one item, summed. */
export interface Gathered extends Tally {
  /** Connection ids (deliver-to-one's listeners question). */
  connections: string[];
  answered: number;
  /** Answerers asked; undefined when their number was never known (Redis did not say). */
  asked: number | undefined;
  /** Per-node worker figures summed (many nodes); undefined for a node's own gathering. */
  workers?: { answered: number; asked: number };
}

export interface GatheredPart extends Partial<Tally> {
  connections?: string[];
  workers?: { answered: number; asked: number };
}

/**
 * One asked item's answers, from each answerer once (a replayed item may be answered
 * again): complete when every answerer asked has answered, or when the wait is over.
 */
export class Gathering {
  private asked: number | undefined;
  private readonly from = new Set<string>();
  private readonly sum: Gathered = {
    listeners: 0,
    written: 0,
    dropped: {},
    connections: [],
    answered: 0,
    asked: undefined,
  };
  private readonly timer: NodeJS.Timeout;
  private ackTimer: NodeJS.Timeout | undefined;
  private finish!: (gathered: Gathered) => void;
  private settleAck: ((isAcked: boolean) => void) | undefined;
  private isDone = false;
  readonly result: Promise<Gathered>;
  /** Undefined when no acknowledgement was asked for. */
  readonly acked: Promise<boolean> | undefined;

  constructor(
    readonly id: number,
    waitMs: number,
    ackMs: number,
    private readonly onSettled: (gathering: Gathering) => void,
  ) {
    this.result = new Promise((resolve) => (this.finish = resolve));
    this.timer = setTimeout(() => this.complete(), waitMs);
    if (ackMs > 0) {
      this.acked = new Promise((resolve) => (this.settleAck = resolve));
      this.ackTimer = setTimeout(() => this.ack(false), ackMs);
    }
  }

  /** How many answer; known once the item went out (Redis says how many nodes got it). */
  expect(count: number): void {
    this.asked = count;
    if (this.from.size >= count) this.complete();
  }

  add(answerer: string, part: GatheredPart): void {
    if (this.isDone || this.from.has(answerer)) return;
    this.from.add(answerer);
    const sum = this.sum;
    sum.answered++;
    sum.listeners += part.listeners ?? 0;
    sum.written += part.written ?? 0;
    for (const [reason, count] of Object.entries(part.dropped ?? {})) {
      sum.dropped[reason] = (sum.dropped[reason] ?? 0) + count;
    }
    if (part.connections) sum.connections.push(...part.connections);
    if (part.workers) {
      sum.workers ??= { answered: 0, asked: 0 };
      sum.workers.answered += part.workers.answered;
      sum.workers.asked += part.workers.asked;
    }
    if (this.asked !== undefined && this.from.size >= this.asked) this.complete();
  }

  ack(isAcked: boolean): void {
    if (!this.settleAck) return;
    clearTimeout(this.ackTimer);
    this.settleAck(isAcked);
    this.settleAck = undefined;
    this.settleIfOver();
  }

  /** Ends the wait now (an item Redis did not take). */
  complete(): void {
    if (this.isDone) return;
    this.isDone = true;
    clearTimeout(this.timer);
    this.sum.asked = this.asked;
    this.finish(this.sum);
    this.settleIfOver();
  }

  private settleIfOver(): void {
    if (this.isDone && !this.settleAck) this.onSettled(this);
  }
}

/** The open gatherings of one asker, by receipt number (u32, as it travels on the bus). */
export class Gatherings {
  /**
   * Random at start: a worker may answer an item of a handler that was restarted since (a
   * replay of its recent items), which must not land on a new receipt of the same number.
   */
  private last = Math.floor(Math.random() * 0xffff_ffff);
  private readonly open = new Map<number, Gathering>();

  /** Whether any receipt is open: the plain publish path checks nothing more. */
  get isOpen(): boolean {
    return this.open.size > 0;
  }

  start(waitMs: number, ackMs = 0): Gathering {
    this.last = (this.last % 0xffff_ffff) + 1;
    const gathering = new Gathering(this.last, waitMs, ackMs, (done) => {
      if (this.open.get(done.id) === done) this.open.delete(done.id);
    });
    this.open.set(gathering.id, gathering);
    return gathering;
  }

  /** An answer to a receipt that is over (late, or another handler's) is ignored. */
  add(receipt: number, answerer: string, part: GatheredPart): void {
    this.open.get(receipt)?.add(answerer, part);
  }

  /** False when nobody waits for this acknowledgement any more. */
  ack(receipt: number): boolean {
    const gathering = this.open.get(receipt);
    if (!gathering?.acked) return false;
    gathering.ack(true);
    return true;
  }

  close(): void {
    for (const gathering of this.open.values()) {
      gathering.ack(false);
      gathering.complete();
    }
  }
}
