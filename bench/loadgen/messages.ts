import type { HistogramData } from '../histogram.js';
import type { DeliveryCounts, DeliveryReport } from './delivery-stats.js';

/** Where a generator's connections go; `{i}` in `path` becomes the connection's index. */
export interface ConnectSpec {
  host: string;
  port: number;
  path: string;
  /** Global index range [first, first + count) of this generator's connections. */
  first: number;
  count: number;
  /** Source addresses (127.0.0.x), used round-robin by connection index. */
  sources: string[];
  /** Connection attempts in flight at once. */
  concurrency: number;
  /** Further attempts for a connection that failed (error status, reset). */
  retries: number;
  timeoutMs: number;
}

export type Task =
  | { type: 'open-sse'; spec: ConnectSpec }
  | { type: 'open-ws'; spec: ConnectSpec }
  | { type: 'http-load'; spec: ConnectSpec; durationMs: number }
  | { type: 'ws-echo'; window: number; durationMs: number; drainMs: number }
  | { type: 'ws-burst'; messages: number; drainMs: number }
  | { type: 'counts' }
  | { type: 'probed-indices' }
  | { type: 'report' }
  | { type: 'reset' }
  | { type: 'close-all' };

export interface OpenResult {
  opened: number;
  /** Connections still not open after all retries. */
  failed: number;
  /** Failed attempts that were tried again. */
  retried: number;
  /** Failure reason → count over all attempts (e.g. `ECONNREFUSED`, `status 502`, `timeout`). */
  errors: Record<string, number>;
  startedAt: number;
  doneAt: number;
}

export interface LoadResult {
  responses: number;
  statuses: Record<string, number>;
  errors: Record<string, number>;
  latency: HistogramData;
  elapsedMs: number;
}

export interface EchoResult {
  sent: number;
  received: number;
  rtt: HistogramData;
  elapsedMs: number;
  /** Connections the server closed during the phase; reason → count. */
  closed: Record<string, number>;
}

export type TaskResult =
  OpenResult | LoadResult | EchoResult | DeliveryCounts | DeliveryReport | number[] | null;

export interface TaskMessage {
  id: number;
  task: Task;
}

export interface ResultMessage {
  id: number;
  result?: TaskResult;
  error?: string;
}
