import * as zmq from 'zeromq';
import { encodeBusAnswers, type BusAnswer } from '../../src/ipc/bus-answer.js';
import type { Logger } from '../../src/log.js';

/** Answers queued beyond this while the handler is away are dropped (its receipts time out). */
const queueMax = 10_000;

/**
 * The worker's answers to asked items (src/ipc/bus-answer.ts), sent to the handler on the
 * stats socket, one message per event-loop turn. Only publishes that ask for a receipt, an
 * acknowledgement or one listener cause any; the plain publish path never comes here.
 */
export class BusAnswers {
  private readonly socket = new zmq.Push({ linger: 0, sendHighWaterMark: queueMax });
  private queue: BusAnswer[] = [];
  private unknownAcks = 0;
  private isScheduled = false;
  private isSending = false;
  private isClosed = false;

  constructor(
    spec: string,
    private readonly log: Logger,
  ) {
    this.socket.connect(spec);
  }

  add(answer: BusAnswer): void {
    if (this.isClosed || this.queue.length >= queueMax) return;
    this.queue.push(answer);
    this.schedule();
  }

  /** A client acknowledged an item nobody waits for: counted by the handler, in one answer. */
  countUnknownAck(): void {
    this.unknownAcks++;
    this.schedule();
  }

  close(): void {
    this.isClosed = true;
    this.socket.close();
  }

  private schedule(): void {
    if (this.isScheduled || this.isClosed) return;
    this.isScheduled = true;
    setImmediate(() => void this.flush());
  }

  private async flush(): Promise<void> {
    this.isScheduled = false;
    if (this.isSending || this.isClosed) return;
    if (this.unknownAcks > 0) {
      this.queue.push({ kind: 'unknown-acks', count: this.unknownAcks });
      this.unknownAcks = 0;
    }
    const batch = this.queue;
    if (batch.length === 0) return;
    this.queue = [];
    this.isSending = true;
    try {
      await this.socket.send(encodeBusAnswers(batch));
    } catch (err) {
      if (!this.isClosed) this.log.warn({ err: (err as Error).message }, 'bus answers not sent');
    }
    this.isSending = false;
    if (this.queue.length > 0 || this.unknownAcks > 0) this.schedule();
  }
}
