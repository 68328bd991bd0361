import { collectDefaultMetrics, Registry } from 'prom-client';
import * as zmq from 'zeromq';
import { encodeWorkerReport, type WorkerReport } from '../src/ipc/worker-report.js';
import type { Logger } from '../src/log.js';
import { childName, childRestarts } from '../src/runner/child-env.js';
import {
  counterJson,
  gaugeJson,
  histogramJson,
  type Labels,
  type MetricJson,
} from '../src/metrics/metric-json.js';
import type { ChannelSubscriptions } from './bus/channel-subscriptions.js';
import type { ConnectionCap } from './connection-cap.js';
import type { GripResponder } from './hold/grip-responder.js';
import type { ProxyContext } from './proxy-context.js';
import type { WsSession } from './ws/session.js';
import type { WorkerStats } from './worker-stats.js';

const reportIntervalMs = 1_000;
/**
 * How often the process metrics are read again: some are not cheap with thousands of
 * connections (open fds lists /proc/self/fd, active handles lists every socket), and a
 * Prometheus scrape every 15 s or more needs no fresher figures.
 */
const processMetricsEveryMs = 10_000;
const topChannelsMax = 10;

/** What the report reads besides the counts: the worker's live objects. */
export interface ReportSources {
  stats: WorkerStats;
  ctx: ProxyContext;
  grip: GripResponder;
  subscriptions: ChannelSubscriptions;
  webSockets: ReadonlySet<WsSession>;
  cap: () => ConnectionCap | undefined;
}

/**
 * Describes the worker's figures as prom-client metric JSON (src/metrics/metric-json.ts),
 * with Node's process metrics from prom-client's default collectors.
 */
export class StatsReport {
  private readonly registry = new Registry();
  private processMetrics: Awaited<ReturnType<Registry['getMetricsAsJSON']>> = [];
  private processMetricsAt = -Infinity;

  constructor(private readonly sources: ReportSources) {
    collectDefaultMetrics({ register: this.registry });
  }

  async build(): Promise<WorkerReport> {
    const { stats } = this.sources;
    const now = performance.now();
    if (now - this.processMetricsAt >= processMetricsEveryMs) {
      this.processMetricsAt = now;
      this.processMetrics = await this.registry.getMetricsAsJSON();
    }
    const metrics = [...this.figures(), ...this.processMetrics];
    return {
      worker: childName(`proxy-${process.pid}`),
      pid: process.pid,
      metrics: metrics as MetricJson[],
      channels: this.topChannels(),
      errors: stats.errors,
    };
  }

  private figures(): MetricJson[] {
    const { stats, ctx, grip, subscriptions, webSockets } = this.sources;
    const transports = { http: ctx.inFlight.size, stream: 0, sse: 0, ws: 0, 'ws-over-http': 0 };
    const holds = { response: 0, stream: 0 };
    for (const hold of grip.holds) {
      transports[hold.transport]++;
      holds[hold.transport === 'http' ? 'response' : 'stream']++;
    }
    for (const session of webSockets) transports[session.transport]++;
    let subscriptionCount = 0;
    for (const [, set] of subscriptions.listenerCounts()) subscriptionCount += set.size;
    const cap = this.sources.cap();
    const routes = [...stats.routes];
    const byRouteAndCode = (pick: 'statuses' | 'gatewayErrors'): [Labels, number][] =>
      routes.flatMap(([route, figures]) =>
        [...figures[pick]].map(([code, count]): [Labels, number] => [{ route, code }, count]),
      );
    return [
      gaugeJson(
        'thumbtack_connections',
        'Open client connections by transport (http: requests in flight and long-polls held)',
        Object.entries(transports).map(([transport, count]) => [{ transport }, count]),
      ),
      gaugeJson(
        'thumbtack_holds',
        'Held HTTP connections by kind',
        Object.entries(holds).map(([kind, count]) => [{ kind }, count]),
      ),
      gaugeJson('thumbtack_subscriptions', 'Connection-channel subscriptions on this worker', [
        [{}, subscriptionCount],
      ]),
      gaugeJson('thumbtack_worker_channels', 'Channels with a subscriber on this worker', [
        [{}, subscriptions.channelCount],
      ]),
      counterJson('thumbtack_deliveries_total', 'Published items written to connections', [
        [{}, stats.deliveries],
      ]),
      counterJson(
        'thumbtack_drops_total',
        'Published items not written to a listening connection, by reason',
        Object.entries(stats.drops).map(([reason, count]) => [{ reason }, count]),
      ),
      counterJson(
        'thumbtack_disconnects_total',
        'Held connections (HTTP holds and WebSockets) ended, by reason',
        Object.entries(stats.disconnects).map(([reason, count]) => [{ reason }, count]),
      ),
      histogramJson(
        'thumbtack_delivery_latency_seconds',
        'Publish accepted by the handler to written to the client socket',
        [[{}, stats.latency]],
      ),
      histogramJson(
        'thumbtack_backend_request_duration_seconds',
        'Backend requests from sent to response head, by route',
        routes.map(([route, figures]) => [{ route }, figures.durations]),
      ),
      counterJson(
        'thumbtack_backend_responses_total',
        'Responses to proxied requests by route and status code',
        byRouteAndCode('statuses'),
      ),
      counterJson(
        'thumbtack_gateway_errors_total',
        'Responses thumbtack made itself because the backend was unreachable (502) or slow (504)',
        byRouteAndCode('gatewayErrors'),
      ),
      counterJson(
        'thumbtack_connection_cap_reached_total',
        'Times the worker stopped accepting at its connection cap (the kernel refuses meanwhile)',
        [[{}, cap?.timesReached ?? 0]],
      ),
      gaugeJson('thumbtack_connection_cap_paused', '1 while the worker is at its connection cap', [
        [{}, cap?.isPaused ? 1 : 0],
      ]),
      counterJson('thumbtack_restarts_total', 'Times the runner restarted this process', [
        [{}, childRestarts()],
      ]),
    ];
  }

  private topChannels(): [string, number][] {
    const top: [string, number][] = [];
    for (const [channel, set] of this.sources.subscriptions.listenerCounts()) {
      if (set.size === 0) continue; // lingering after its last long-poll
      if (top.length === topChannelsMax && set.size <= top[top.length - 1]![1]) continue;
      top.push([channel, set.size]);
      top.sort((a, b) => b[1] - a[1]);
      if (top.length > topChannelsMax) top.pop();
    }
    return top;
  }
}

/**
 * Sends the report to the handler once a second. A handler that is down or slow costs
 * nothing: a report that cannot leave at once is skipped, never queued.
 */
export function startStatsReporting(spec: string, report: StatsReport, log: Logger): () => void {
  const socket = new zmq.Push({ sendHighWaterMark: 1, sendTimeout: 0, linger: 0 });
  socket.connect(spec);
  let isSending = false;
  const timer = setInterval(() => {
    if (isSending) return;
    isSending = true;
    report
      .build()
      .then((built) => socket.send(encodeWorkerReport(built)))
      .catch((err: unknown) => {
        const code = (err as { code?: string }).code;
        if (code !== 'EAGAIN') log.debug({ err: (err as Error).message }, 'stats report not sent');
      })
      .finally(() => (isSending = false));
  }, reportIntervalMs);
  timer.unref();
  return () => {
    clearInterval(timer);
    socket.close();
  };
}
