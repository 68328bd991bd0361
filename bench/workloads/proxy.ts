import type { BenchOptions } from '../options.js';
import {
  describeCounts,
  fmt,
  round,
  sumCounts,
  type MetricSpec,
  type Workload,
  type WorkloadResult,
} from './workload.js';

/**
 * Plain requests through the proxy (and, as the `backend` column, straight to the backend).
 * `backend_pct_*` is filled in by `addBackendShare` once the backend was measured.
 */
export function proxyWorkload(options: BenchOptions): Workload {
  const metrics: MetricSpec[] = [];
  for (const c of options.proxyConnections) {
    metrics.push(
      {
        key: `rps_c${c}`,
        label: `proxy req/s @${c} conns`,
        unit: 'req/s',
        better: 'higher',
        chart: 'throughput',
      },
      { key: `p50_c${c}`, label: `proxy p50 @${c}`, unit: 'ms', better: 'lower', chart: 'latency' },
      { key: `p99_c${c}`, label: `proxy p99 @${c}`, unit: 'ms', better: 'lower', chart: 'latency' },
      { key: `errors_c${c}`, label: `proxy errors @${c}`, unit: 'count', better: 'lower' },
      {
        key: `backend_pct_c${c}`,
        label: `proxy % of bare backend @${c}`,
        unit: '%',
        better: 'higher',
      },
    );
  }
  return {
    name: 'proxy',
    metrics,
    connections: Math.max(...options.proxyConnections),
    async run({ sut, fleet, log }): Promise<WorkloadResult> {
      const values: Record<string, number | null> = {};
      const detail: Record<string, unknown> = {};
      const parts: string[] = [];
      // Unmeasured: lets JIT compilation and connection pools settle first.
      const target = { host: '127.0.0.1', port: sut.clientPort };
      if (options.warmup > 0) {
        log(`proxy: ${options.warmup} s warm-up`);
        await fleet.httpLoad(
          target,
          '/plain/warmup',
          Math.max(...options.proxyConnections),
          options.warmup * 1000,
        );
      }
      for (const c of options.proxyConnections) {
        log(`proxy: ${c} connections for ${options.duration} s`);
        const load = await fleet.httpLoad(
          { host: '127.0.0.1', port: sut.clientPort },
          '/plain/hello',
          c,
          options.duration * 1000,
        );
        const rps = load.responses / (load.elapsedMs / 1000);
        const errors = sumCounts(load.statuses) + sumCounts(load.errors);
        values[`rps_c${c}`] = round(rps, 0);
        values[`p50_c${c}`] = round(load.latency.percentile(50));
        values[`p99_c${c}`] = round(load.latency.percentile(99));
        values[`errors_c${c}`] = errors;
        detail[`c${c}`] = {
          responses: load.responses,
          statuses: load.statuses,
          errors: load.errors,
        };
        parts.push(
          `@${c}: ${fmt(rps)} req/s, p50 ${fmt(load.latency.percentile(50))} ms, p99 ${fmt(load.latency.percentile(99))} ms, ` +
            `errors ${errors}${errors > 0 ? ` (${describeCounts({ ...load.statuses, ...load.errors })})` : ''}`,
        );
      }
      return {
        workload: 'proxy',
        sut: sut.name,
        status: 'ok',
        metrics: values,
        detail,
        summary: parts.join('; '),
      };
    },
  };
}

/** Adds each system's req/s as a percentage of the bare backend's at the same connection count. */
export function addBackendShare(
  options: BenchOptions,
  backend: Record<string, unknown>,
  results: { metrics: Record<string, unknown> }[],
): void {
  for (const c of options.proxyConnections) {
    const base = backend[`rps_c${c}`];
    for (const result of results) {
      const rps = result.metrics[`rps_c${c}`];
      if (typeof base === 'number' && base > 0 && typeof rps === 'number') {
        result.metrics[`backend_pct_c${c}`] = round((rps / base) * 100, 1);
      }
    }
  }
}
