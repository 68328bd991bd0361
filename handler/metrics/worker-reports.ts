import { setTimeout as delay } from 'node:timers/promises';
import * as zmq from 'zeromq';
import { decodeWorkerReport, type WorkerReport } from '../../src/ipc/worker-report.js';
import { decodeBusAnswers, isBusAnswers, type BusAnswer } from '../../src/ipc/bus-answer.js';
import type { Logger } from '../../src/log.js';

/** A worker silent this long has stopped (or died): its gauges must not linger. */
const staleAfterMs = 5_000;

/**
 * The latest report of every proxy worker (`--stats`, ZeroMQ PULL): workers send one a
 * second (proxy/stats-report.ts) and keep their counters, so a restarted handler has the
 * whole node again within a second. The same socket carries the workers' answers to
 * receipts, acks and listener questions (src/ipc/bus-answer.ts), handed to `onAnswers`.
 */
export class WorkerReports {
  private readonly socket = new zmq.Pull({ linger: 0 });
  private readonly latest = new Map<string, { report: WorkerReport; at: number }>();
  private receiving: Promise<void> | undefined;
  private isClosed = false;

  constructor(
    private readonly endpoint: string,
    private readonly logger: Logger,
    private readonly onAnswers?: (answers: BusAnswer[]) => void,
  ) {}

  get address(): string {
    return this.socket.lastEndpoint ?? this.endpoint;
  }

  async start(): Promise<void> {
    await this.socket.bind(this.endpoint);
    this.receiving = this.receive();
  }

  /** The reports of workers heard from in the last few seconds, by worker name. */
  current(): WorkerReport[] {
    const now = Date.now();
    const reports: WorkerReport[] = [];
    for (const [worker, { report, at }] of this.latest) {
      if (now - at > staleAfterMs) this.latest.delete(worker);
      else reports.push(report);
    }
    return reports.sort((a, b) => a.worker.localeCompare(b.worker));
  }

  /** Resolves once `count` workers have reported, or after `maxMs`. */
  async waitFor(count: number, maxMs: number): Promise<void> {
    const deadline = Date.now() + maxMs;
    while (!this.isClosed && this.current().length < count && Date.now() < deadline) {
      await delay(50);
    }
  }

  async close(): Promise<void> {
    this.isClosed = true;
    this.socket.close();
    await this.receiving;
  }

  private takeAnswers(message: Buffer): void {
    const answers = decodeBusAnswers(message);
    if (!answers) {
      this.logger.warn('ignored a malformed batch of worker answers');
      return;
    }
    try {
      this.onAnswers?.(answers);
    } catch (err) {
      this.logger.error({ err }, 'handling worker answers failed');
    }
  }

  private async receive(): Promise<void> {
    try {
      for await (const [message] of this.socket) {
        if (message && isBusAnswers(message)) {
          this.takeAnswers(message);
          continue;
        }
        const report = message ? decodeWorkerReport(message) : undefined;
        if (!report) {
          this.logger.warn('ignored a stats message that is not a worker report');
          continue;
        }
        this.latest.set(report.worker, { report, at: Date.now() });
      }
    } catch (err) {
      if (!this.isClosed) this.logger.error({ err }, 'stats socket stopped receiving');
    }
  }
}
