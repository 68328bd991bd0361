import type { BenchOptions } from '../options.js';
import type { Fleet } from '../loadgen/fleet.js';
import { hasWrk, runWrk } from '../loadgen/wrk.js';
import { treeCpu } from '../process-tree.js';
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
        key: `cpu_us_c${c}`,
        label: `proxy CPU per request @${c}`,
        unit: 'µs',
        better: 'lower',
      },
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
      const useWrk =
        options.proxyGenerator === 'wrk' || (options.proxyGenerator === 'auto' && hasWrk());
      detail['generator'] = useWrk ? 'wrk' : 'node';
      parts.push(`generator ${useWrk ? 'wrk' : 'node'}`);
      for (const c of options.proxyConnections) {
        log(
          `proxy: ${c} connections for ${options.duration} s (${useWrk ? 'wrk' : 'node generators'})`,
        );
        // The whole system's CPU (every worker, the handler, the runner) over the load.
        const pids = sut.processes();
        const cpuBefore = treeCpu(pids);
        const load = useWrk
          ? await wrkLoad(
              `http://127.0.0.1:${sut.clientPort}/plain/hello`,
              c,
              options.duration * 1000,
            )
          : await nodeLoad(
              fleet,
              { host: '127.0.0.1', port: sut.clientPort },
              c,
              options.duration * 1000,
            );
        const rps = load.responses / (load.elapsedMs / 1000);
        const cpuUs =
          load.responses > 0 ? ((treeCpu(pids) - cpuBefore) * 1e6) / load.responses : null;
        values[`cpu_us_c${c}`] = cpuUs === null ? null : round(cpuUs, 1);
        const errors = sumCounts(load.statuses) + sumCounts(load.errors);
        values[`rps_c${c}`] = round(rps, 0);
        values[`p50_c${c}`] = round(load.p50Ms);
        values[`p99_c${c}`] = round(load.p99Ms);
        values[`errors_c${c}`] = errors;
        detail[`c${c}`] = {
          responses: load.responses,
          statuses: load.statuses,
          errors: load.errors,
        };
        parts.push(
          `@${c}: ${fmt(rps)} req/s, ${cpuUs === null ? '-' : fmt(cpuUs)} µs CPU each, p50 ${fmt(load.p50Ms)} ms, p99 ${fmt(load.p99Ms)} ms, ` +
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

/** One load phase's figures, whichever generator made it. */
interface ProxyLoad {
  responses: number;
  statuses: Record<string, number>;
  errors: Record<string, number>;
  elapsedMs: number;
  p50Ms: number;
  p99Ms: number;
}

async function nodeLoad(
  fleet: Fleet,
  target: { host: string; port: number },
  connections: number,
  durationMs: number,
): Promise<ProxyLoad> {
  const load = await fleet.httpLoad(target, '/plain/hello', connections, durationMs);
  return {
    responses: load.responses,
    statuses: load.statuses,
    errors: load.errors,
    elapsedMs: load.elapsedMs,
    p50Ms: load.latency.percentile(50),
    p99Ms: load.latency.percentile(99),
  };
}

async function wrkLoad(url: string, connections: number, durationMs: number): Promise<ProxyLoad> {
  const load = await runWrk(url, connections, durationMs);
  return {
    responses: load.responses,
    statuses: load.badStatuses > 0 ? { 'non-2xx/3xx': load.badStatuses } : {},
    errors: load.errors,
    elapsedMs: load.elapsedMs,
    p50Ms: load.p50Ms,
    p99Ms: load.p99Ms,
  };
}
