import type { MetricJson } from '../metrics/metric-json.js';

/*
 * What a proxy worker tells the handler once a second on the internal stats socket
 * (`--stats`, ZeroMQ PUSH → PULL): its metrics, its busiest channels and its recent
 * errors. The handler serves them (`/metrics`, `/status.json`) beside its own; a worker
 * keeps its counters, so a handler restart loses nothing but the seconds it was away.
 */

export interface RecentError {
  /** Date.now() when it happened. */
  at: number;
  kind: 'backend' | 'drop' | 'disconnect';
  /** What an operator reads: status and route, drop reason and channel... */
  text: string;
}

export interface WorkerReport {
  /** `proxy-0`... under the runner, else `proxy-<pid>`: the `worker` label. */
  worker: string;
  pid: number;
  metrics: MetricJson[];
  /** The channels with the most subscribers on this worker, busiest first. */
  channels: [string, number][];
  errors: RecentError[];
}

export function encodeWorkerReport(report: WorkerReport): Buffer {
  return Buffer.from(JSON.stringify(report));
}

/** Undefined for anything that is not a report (a stray sender must not break a scrape). */
export function decodeWorkerReport(message: Buffer): WorkerReport | undefined {
  let value: unknown;
  try {
    value = JSON.parse(message.toString('utf8'));
  } catch {
    return undefined;
  }
  if (typeof value !== 'object' || value === null) return undefined;
  const report = value as Partial<WorkerReport>;
  if (
    typeof report.worker !== 'string' ||
    typeof report.pid !== 'number' ||
    !Array.isArray(report.metrics) ||
    !Array.isArray(report.channels) ||
    !Array.isArray(report.errors)
  ) {
    return undefined;
  }
  const metricsOk = report.metrics.every(
    (metric) =>
      typeof metric === 'object' &&
      metric !== null &&
      typeof metric.name === 'string' &&
      typeof metric.help === 'string' &&
      typeof metric.type === 'string' &&
      Array.isArray(metric.values),
  );
  return metricsOk ? (report as WorkerReport) : undefined;
}
