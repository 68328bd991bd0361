import type { Fleet, OpenOptions } from '../loadgen/fleet.js';
import type { BenchOptions, WorkloadName } from '../options.js';
import type { Sut, SutName } from '../sut/sut.js';

/** How a metric reads in the table and chart. */
export interface MetricSpec {
  key: string;
  label: string;
  unit: string;
  /** Which way is better; `info` rows get no ratio. */
  better: 'higher' | 'lower' | 'info';
  /** Drawn in the chart, as a throughput, latency or resource figure. */
  chart?: 'throughput' | 'latency' | 'resource';
}

export type MetricValue = number | string | null;

export interface WorkloadResult {
  workload: WorkloadName;
  sut: string;
  status: 'ok' | 'not available' | 'failed';
  /** Why it is not available or failed, or what to know when reading it. */
  note?: string;
  metrics: Record<string, MetricValue>;
  /** Per-step or per-process figures kept in the JSON results only. */
  detail?: unknown;
  /** The one human line. */
  summary: string;
  /** Monotonic µs [start, end] of the measured phase, to cut CPU profiles to it. */
  window?: [number, number];
}

export interface WorkloadContext {
  sut: Sut;
  fleet: Fleet;
  options: BenchOptions;
  /** Progress lines while a workload runs (not results). */
  log(line: string): void;
  /** For workloads that start systems of their own (`nodes`): the bench backend's port. */
  backendPort: number;
  /** The run's work directory, for those systems' private directories. */
  workDir: string;
  /** Has `stop` run if the bench is interrupted; the returned function forgets it. */
  track(stop: () => Promise<void>): () => void;
}

export interface Workload {
  name: WorkloadName;
  metrics: MetricSpec[];
  /** Connections it holds at once, to size workers. */
  connections: number;
  /** Why it cannot run on `sut` (checked before that system is started), or undefined. */
  unavailable?(sut: SutName): string | undefined;
  run(ctx: WorkloadContext): Promise<WorkloadResult>;
}

/** 1234.5 → "1,235"; small values keep two significant decimals. */
export function fmt(value: number): string {
  if (!Number.isFinite(value)) return '-';
  if (Math.abs(value) >= 100) return Math.round(value).toLocaleString('en-US');
  if (Math.abs(value) >= 10) return value.toFixed(1);
  return value.toFixed(2);
}

export function round(value: number, digits = 2): number | null {
  if (!Number.isFinite(value)) return null;
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}

export function describeCounts(counts: Record<string, number>): string {
  const entries = Object.entries(counts).sort((a, b) => b[1] - a[1]);
  return entries.length === 0 ? 'none' : entries.map(([k, n]) => `${k}×${n}`).join(', ');
}

export function sumCounts(counts: Record<string, number>): number {
  return Object.values(counts).reduce((a, b) => a + b, 0);
}

export function openOptions(options: BenchOptions): OpenOptions {
  return {
    concurrency: options.connectConcurrency,
    retries: options.connectRetries,
    timeoutMs: options.openTimeout * 1000,
  };
}
