import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Histogram } from '../histogram.js';
import type { DeliveryCounts, DeliveryReport } from './delivery-stats.js';
import type {
  ConnectSpec,
  EchoResult,
  LoadResult,
  OpenResult,
  ResultMessage,
  Task,
  TaskResult,
} from './messages.js';

const generatorEntry = fileURLToPath(new URL('./generator.js', import.meta.url));
/** Slack on top of a task's own time bound before the main process gives up on a reply. */
const replySlackMs = 30_000;

export interface Target {
  host: string;
  port: number;
}

export interface OpenOptions {
  /** Connection attempts in flight per generator. */
  concurrency: number;
  /** Further attempts for a failed connection. */
  retries: number;
  timeoutMs: number;
}

export interface MergedDelivery extends Omit<DeliveryReport, 'latency'> {
  latency: Histogram;
}

export interface MergedLoad extends Omit<LoadResult, 'latency'> {
  latency: Histogram;
}

export interface MergedEcho extends Omit<EchoResult, 'rtt'> {
  rtt: Histogram;
}

/**
 * The load generator processes, driven from the bench main process. Connections are split
 * into contiguous index ranges, one per generator, and spread over the source addresses.
 */
export class Fleet {
  private readonly children: ChildProcess[] = [];
  private readonly waiting = new Map<number, (message: ResultMessage) => void>();
  private nextId = 1;

  constructor(
    count: number,
    private readonly sources: string[],
  ) {
    // Generators never inherit profiling or other NODE_OPTIONS meant for the system under test.
    const env = { ...process.env };
    delete env.NODE_OPTIONS;
    for (let i = 0; i < count; i++) {
      const child = fork(generatorEntry, [], {
        env,
        execArgv: [],
        stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      });
      child.on('message', (message: ResultMessage) => {
        const resolve = this.waiting.get(message.id);
        this.waiting.delete(message.id);
        resolve?.(message);
      });
      this.children.push(child);
    }
  }

  get size(): number {
    return this.children.length;
  }

  async openSse(
    target: Target,
    path: string,
    total: number,
    options: OpenOptions,
  ): Promise<OpenResult> {
    return mergeOpen(await this.spread('open-sse', target, path, total, options));
  }

  async openWs(
    target: Target,
    path: string,
    total: number,
    options: OpenOptions,
  ): Promise<OpenResult> {
    return mergeOpen(await this.spread('open-ws', target, path, total, options));
  }

  async httpLoad(
    target: Target,
    path: string,
    connections: number,
    durationMs: number,
  ): Promise<MergedLoad> {
    const specs = this.split(target, path, connections, {
      concurrency: connections,
      retries: 0,
      timeoutMs: durationMs,
    });
    const results = (await Promise.all(
      specs.map((spec, i) => this.ask(i, { type: 'http-load', spec, durationMs }, durationMs)),
    )) as LoadResult[];
    const latency = new Histogram();
    const merged: MergedLoad = { responses: 0, statuses: {}, errors: {}, latency, elapsedMs: 0 };
    for (const r of results) {
      merged.responses += r.responses;
      addCounts(merged.statuses, r.statuses);
      addCounts(merged.errors, r.errors);
      latency.merge(r.latency);
      merged.elapsedMs = Math.max(merged.elapsedMs, r.elapsedMs);
    }
    return merged;
  }

  async wsEcho(window: number, durationMs: number, drainMs: number): Promise<MergedEcho> {
    return mergeEcho(
      (await this.all(
        { type: 'ws-echo', window, durationMs, drainMs },
        durationMs + drainMs,
      )) as EchoResult[],
    );
  }

  async wsBurst(messages: number, drainMs: number): Promise<MergedEcho> {
    return mergeEcho(
      (await this.all({ type: 'ws-burst', messages, drainMs }, drainMs)) as EchoResult[],
    );
  }

  async counts(): Promise<DeliveryCounts> {
    const results = (await this.all({ type: 'counts' }, 0)) as DeliveryCounts[];
    const merged: DeliveryCounts = {
      received: 0,
      duplicates: 0,
      outOfOrder: 0,
      probed: 0,
      dropped: 0,
      lastReceiptAt: 0,
    };
    for (const r of results) addDeliveryCounts(merged, r);
    return merged;
  }

  /** Indices of the open SSE connections that received a probe, ascending. */
  async probedIndices(): Promise<number[]> {
    const results = (await this.all({ type: 'probed-indices' }, 0)) as number[][];
    return results.flat().sort((a, b) => a - b);
  }

  async report(): Promise<MergedDelivery> {
    const results = (await this.all({ type: 'report' }, 0)) as DeliveryReport[];
    const latency = new Histogram();
    const merged: MergedDelivery = {
      received: 0,
      duplicates: 0,
      outOfOrder: 0,
      probed: 0,
      dropped: 0,
      lastReceiptAt: 0,
      latency,
      dropReasons: {},
      chunkShared: 0,
      readShared: 0,
      maxItemsPerChunk: 0,
      maxItemsPerRead: 0,
    };
    for (const r of results) {
      addDeliveryCounts(merged, r);
      latency.merge(r.latency);
      addCounts(merged.dropReasons, r.dropReasons);
      merged.chunkShared += r.chunkShared;
      merged.readShared += r.readShared;
      merged.maxItemsPerChunk = Math.max(merged.maxItemsPerChunk, r.maxItemsPerChunk);
      merged.maxItemsPerRead = Math.max(merged.maxItemsPerRead, r.maxItemsPerRead);
    }
    return merged;
  }

  async reset(): Promise<void> {
    await this.all({ type: 'reset' }, 0);
  }

  async closeAll(): Promise<void> {
    await this.all({ type: 'close-all' }, 0);
  }

  /** Ends every generator process by its PID and waits (bounded) for each to exit. */
  async stop(): Promise<void> {
    await Promise.all(
      this.children.map(
        (child) =>
          new Promise<void>((resolve) => {
            if (child.exitCode !== null || child.signalCode !== null) {
              resolve();
              return;
            }
            const timer = setTimeout(() => {
              child.kill('SIGKILL');
              resolve();
            }, 5_000);
            child.once('exit', () => {
              clearTimeout(timer);
              resolve();
            });
            child.kill('SIGTERM');
          }),
      ),
    );
  }

  private split(target: Target, path: string, total: number, options: OpenOptions): ConnectSpec[] {
    const specs: ConnectSpec[] = [];
    const n = this.children.length;
    let first = 0;
    for (let i = 0; i < n; i++) {
      const count = Math.floor(total / n) + (i < total % n ? 1 : 0);
      specs.push({ ...target, path, first, count, sources: this.sources, ...options });
      first += count;
    }
    return specs;
  }

  private spread(
    type: 'open-sse' | 'open-ws',
    target: Target,
    path: string,
    total: number,
    options: OpenOptions,
  ): Promise<TaskResult[]> {
    const specs = this.split(target, path, total, options);
    return Promise.all(specs.map((spec, i) => this.ask(i, { type, spec }, options.timeoutMs)));
  }

  private all(task: Task, boundMs: number): Promise<TaskResult[]> {
    return Promise.all(this.children.map((_, i) => this.ask(i, task, boundMs)));
  }

  private ask(index: number, task: Task, boundMs: number): Promise<TaskResult> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting.delete(id);
        reject(new Error(`generator ${index} did not answer "${task.type}" in time`));
      }, boundMs + replySlackMs);
      this.waiting.set(id, (message) => {
        clearTimeout(timer);
        if (message.error !== undefined) reject(new Error(`generator ${index}: ${message.error}`));
        else resolve(message.result ?? null);
      });
      this.children[index].send({ id, task });
    });
  }
}

function mergeOpen(results: TaskResult[]): OpenResult {
  const merged: OpenResult = {
    opened: 0,
    failed: 0,
    retried: 0,
    errors: {},
    startedAt: Infinity,
    doneAt: 0,
  };
  for (const r of results as OpenResult[]) {
    merged.opened += r.opened;
    merged.failed += r.failed;
    merged.retried += r.retried;
    addCounts(merged.errors, r.errors);
    merged.startedAt = Math.min(merged.startedAt, r.startedAt);
    merged.doneAt = Math.max(merged.doneAt, r.doneAt);
  }
  return merged;
}

function mergeEcho(results: EchoResult[]): MergedEcho {
  const rtt = new Histogram();
  const merged: MergedEcho = { sent: 0, received: 0, rtt, elapsedMs: 0, closed: {} };
  for (const r of results) {
    merged.sent += r.sent;
    merged.received += r.received;
    rtt.merge(r.rtt);
    merged.elapsedMs = Math.max(merged.elapsedMs, r.elapsedMs);
    addCounts(merged.closed, r.closed);
  }
  return merged;
}

function addDeliveryCounts(into: DeliveryCounts, r: DeliveryCounts): void {
  into.received += r.received;
  into.duplicates += r.duplicates;
  into.outOfOrder += r.outOfOrder;
  into.probed += r.probed;
  into.dropped += r.dropped;
  into.lastReceiptAt = Math.max(into.lastReceiptAt, r.lastReceiptAt);
}

function addCounts(into: Record<string, number>, from: Record<string, number>): void {
  for (const [key, n] of Object.entries(from)) into[key] = (into[key] ?? 0) + n;
}
