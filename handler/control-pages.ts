import fs from 'node:fs';
import { createRequire } from 'node:module';
import { latencyBounds } from '../src/metrics/bucket-counts.js';
import type { RecentError, WorkerReport } from '../src/ipc/worker-report.js';
import {
  labelPerWorker,
  metricsContentType,
  renderMetrics,
  type MetricJson,
} from '../src/metrics/metric-json.js';
import type { ControlPage } from './inputs/http.js';
import type { HandlerState, HandlerStats } from './metrics/handler-stats.js';
import type { WorkerReports } from './metrics/worker-reports.js';
import { statusPageHtml } from './status-page.js';

/*
 * The operator pages on the control port: Prometheus metrics for the whole node (the
 * handler's figures and every worker's), and the live status page with the JSON it polls.
 */

/** Right after a (re)start, a scrape waits this long for the workers' first reports. */
const startGraceMs = 2_500;

export interface ControlPagesOptions {
  stats: HandlerStats;
  reports: WorkerReports;
  state: () => HandlerState & { mode: string };
  isMetricsOn: boolean;
  isStatusPageOn: boolean;
}

export class ControlPages {
  private readonly startedAt = Date.now();
  isMetricsOn: boolean;
  isStatusPageOn: boolean;

  constructor(private readonly options: ControlPagesOptions) {
    this.isMetricsOn = options.isMetricsOn;
    this.isStatusPageOn = options.isStatusPageOn;
  }

  /** The renderer for a path, or undefined when this port does not serve it (404). */
  readonly page = (path: string): (() => Promise<ControlPage>) | undefined => {
    const { isMetricsOn, isStatusPageOn } = this;
    if (path === '/metrics' && isMetricsOn) return () => this.metrics();
    if (path === '/status' && isStatusPageOn) return () => Promise.resolve(statusPage);
    if (path === '/status.json' && isStatusPageOn) return () => this.statusJson();
    const asset = isStatusPageOn ? statusAssets[path] : undefined;
    if (asset) return () => Promise.resolve(readAsset(asset));
    return undefined;
  };

  async metrics(): Promise<ControlPage> {
    const reports = await this.reports();
    const own = await this.options.stats.figures(this.options.state());
    const groups: MetricJson[][] = [own];
    for (const report of reports) groups.push(labelPerWorker(report.metrics, report.worker));
    return { body: await renderMetrics(groups), contentType: metricsContentType };
  }

  private async statusJson(): Promise<ControlPage> {
    const reports = await this.reports();
    const state = this.options.state();
    const status = {
      time: Date.now(),
      mode: state.mode,
      ...(state.isRedisConnected === undefined
        ? {}
        : { redis: { connected: state.isRedisConnected } }),
      workers: state.workers,
      handler: { pid: process.pid, restarts: state.restarts, channels: state.channels },
      reporting: reports.map(({ worker, pid }) => ({ worker, pid })),
      connections: byLabel(reports, 'thumbtack_connections', 'transport'),
      publishes: this.options.stats.accepted,
      deliveries: sum(reports, 'thumbtack_deliveries_total'),
      drops: {
        ...byLabel(reports, 'thumbtack_drops_total', 'reason'),
        no_listener: this.options.stats.noListener,
      },
      disconnects: byLabel(reports, 'thumbtack_disconnects_total', 'reason'),
      latency: { bounds: latencyBounds, counts: latencyCounts(reports) },
      gatewayErrors: sum(reports, 'thumbtack_gateway_errors_total'),
      channels: topChannels(reports),
      errors: recentErrors(reports),
    };
    return { body: JSON.stringify(status) + '\n', contentType: 'application/json' };
  }

  /** Every worker's report; just after a start, once the connected workers have sent one. */
  private async reports(): Promise<WorkerReport[]> {
    const sinceStart = Date.now() - this.startedAt;
    if (sinceStart < startGraceMs) {
      // Workers may not be back on the bus yet either: wait for one at least.
      const workers = Math.max(1, this.options.state().workers);
      await this.options.reports.waitFor(workers, startGraceMs - sinceStart);
    }
    return this.options.reports.current();
  }
}

const statusPage: ControlPage = { body: statusPageHtml, contentType: 'text/html; charset=utf-8' };

/** uPlot, served from the installed package: the page needs no CDN. */
const statusAssets: Record<string, { file: string; contentType: string }> = {
  '/status/uplot.js': {
    file: 'uplot/dist/uPlot.iife.min.js',
    contentType: 'text/javascript; charset=utf-8',
  },
  '/status/uplot.css': { file: 'uplot/dist/uPlot.min.css', contentType: 'text/css; charset=utf-8' },
};
const assetCache = new Map<string, ControlPage>();
const require = createRequire(import.meta.url);

function readAsset({ file, contentType }: { file: string; contentType: string }): ControlPage {
  let page = assetCache.get(file);
  if (!page) {
    page = { body: fs.readFileSync(require.resolve(file)), contentType };
    assetCache.set(file, page);
  }
  return page;
}

function valuesOf(reports: WorkerReport[], name: string): MetricJson['values'] {
  return reports.flatMap((report) => report.metrics.find((m) => m.name === name)?.values ?? []);
}

function sum(reports: WorkerReport[], name: string): number {
  return valuesOf(reports, name).reduce((total, value) => total + value.value, 0);
}

function byLabel(reports: WorkerReport[], name: string, label: string): Record<string, number> {
  const totals: Record<string, number> = {};
  for (const value of valuesOf(reports, name)) {
    const key = String(value.labels[label]);
    totals[key] = (totals[key] ?? 0) + value.value;
  }
  return totals;
}

/** Per-bucket (not cumulative) counts of publish → write latency, summed over workers. */
function latencyCounts(reports: WorkerReport[]): number[] {
  const cumulative = new Array<number>(latencyBounds.length + 1).fill(0);
  for (const value of valuesOf(reports, 'thumbtack_delivery_latency_seconds')) {
    if (value.metricName !== 'thumbtack_delivery_latency_seconds_bucket') continue;
    const le = value.labels['le'];
    const at = le === '+Inf' ? latencyBounds.length : latencyBounds.indexOf(Number(le) as never);
    if (at >= 0) cumulative[at]! += value.value;
  }
  return cumulative.map((count, at) => count - (at === 0 ? 0 : cumulative[at - 1]!));
}

function topChannels(reports: WorkerReport[]): [string, number][] {
  const totals = new Map<string, number>();
  for (const report of reports) {
    for (const [channel, count] of report.channels) {
      totals.set(channel, (totals.get(channel) ?? 0) + count);
    }
  }
  return [...totals].sort((a, b) => b[1] - a[1]).slice(0, 10);
}

function recentErrors(reports: WorkerReport[]): (RecentError & { worker: string })[] {
  return reports
    .flatMap((report) => report.errors.map((error) => ({ ...error, worker: report.worker })))
    .sort((a, b) => b.at - a.at)
    .slice(0, 20);
}
