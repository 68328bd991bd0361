import { Pool } from 'undici';
import { Histogram } from './histogram.js';
import { measuredItem } from './publisher.js';

/** What the receipts of a batch of publishes said, since the last reset. */
export interface ReceiptTally {
  answered: number;
  /** Answers whose receipt said the item was written to a connection. */
  written: number;
  /** Answers other than 200, by status. */
  non200: Record<string, number>;
  /** Publishes without an HTTP answer, by error code. */
  errors: Record<string, number>;
  /** Publish sent → answer body read, ms. */
  latency: Histogram;
  /** performance.now() of the latest answer; 0 if none. */
  lastAnswerAt: number;
}

interface ReceiptAnswer {
  items?: { written?: number }[];
}

/**
 * Sends one measured item per `POST /publish/?receipt` without waiting for earlier answers,
 * at most `connections` at a time (one per keep-alive connection: HTTP/1.1 without
 * pipelining), and tallies each answer's status, receipt and latency as it comes.
 */
export class ReceiptPublisher {
  private readonly pool: Pool;
  private readonly path: string;
  private tally = emptyTally();
  private waiters: (() => void)[] = [];
  /** Channels with a publish in flight. */
  private readonly busy = new Set<string>();
  inFlight = 0;

  constructor(
    publishUrl: string,
    readonly connections: number,
  ) {
    const url = new URL(publishUrl);
    url.searchParams.set('receipt', '1');
    this.pool = new Pool(url.origin, { connections });
    this.path = url.pathname + url.search;
  }

  get hasSlot(): boolean {
    return this.inFlight < this.connections;
  }

  /**
   * Whether `channel` has a publish in flight. Two concurrent publishes to one connection
   * may be written in either order, and a receiver takes a lower sequence number after a
   * higher one as a duplicate; a receipt answers after the write, so waiting for it keeps
   * each connection's items in order.
   */
  isBusy(channel: string): boolean {
    return this.busy.has(channel);
  }

  /** Publishes one measured http-stream item to `channel`; its answer is tallied later. */
  send(channel: string): void {
    const body = JSON.stringify({ items: [measuredItem(channel, 'http-stream')] });
    const sentAt = performance.now();
    this.inFlight++;
    this.busy.add(channel);
    this.pool
      .request({
        method: 'POST',
        path: this.path,
        headers: { 'content-type': 'application/json' },
        body,
        headersTimeout: 30_000,
        bodyTimeout: 30_000,
      })
      .then(async ({ statusCode, body: answer }) => {
        const text = await answer.text();
        const now = performance.now();
        const { tally } = this;
        tally.answered++;
        tally.latency.record(now - sentAt);
        tally.lastAnswerAt = now;
        if (statusCode !== 200) {
          tally.non200[statusCode] = (tally.non200[statusCode] ?? 0) + 1;
        }
        if (isWritten(text)) tally.written++;
      })
      .catch((err: unknown) => {
        const code = (err as { code?: string }).code ?? (err as Error).message;
        this.tally.errors[code] = (this.tally.errors[code] ?? 0) + 1;
      })
      .finally(() => {
        this.inFlight--;
        this.busy.delete(channel);
        const waiters = this.waiters;
        this.waiters = [];
        for (const wake of waiters) wake();
      });
  }

  /** Resolves when a publish was answered (or failed), freeing a slot. */
  answered(): Promise<void> {
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /** Waits until every publish sent so far was answered (each is bounded by its timeouts). */
  async drain(): Promise<void> {
    while (this.inFlight > 0) await this.answered();
  }

  /** The tally since the last call, and a fresh one for what follows. */
  takeTally(): ReceiptTally {
    const tally = this.tally;
    this.tally = emptyTally();
    return tally;
  }

  async close(): Promise<void> {
    await this.pool.close();
  }
}

function emptyTally(): ReceiptTally {
  return {
    answered: 0,
    written: 0,
    non200: {},
    errors: {},
    latency: new Histogram(),
    lastAnswerAt: 0,
  };
}

/** Whether a receipt answer says its one item was written to a connection. */
function isWritten(text: string): boolean {
  try {
    const answer = JSON.parse(text) as ReceiptAnswer;
    return (answer.items?.[0]?.written ?? 0) > 0;
  } catch {
    return false;
  }
}
