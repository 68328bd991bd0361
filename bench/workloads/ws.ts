import type { BenchOptions } from '../options.js';
import { HttpPublisher } from '../publisher.js';
import { connectNote, fanoutMetrics, measureFanout } from './fanout.js';
import {
  describeCounts,
  fmt,
  type MetricSpec,
  openOptions,
  round,
  sumCounts,
  type Workload,
  type WorkloadResult,
} from './workload.js';

const echoDrainMs = 5_000;
const burstDrainMs = 15_000;

/**
 * N WebSocket clients on a WebSocket-over-HTTP route (`/ws/`): echo round trips through the
 * backend at a fixed in-flight window, a burst where every client sends at once, and a
 * ws-message fan-out via /publish. A refused upgrade reports "not available".
 */
export function wsWorkload(options: BenchOptions): Workload {
  const metrics: MetricSpec[] = [
    {
      key: 'echo_msgs_s',
      label: `ws: echo msgs/s (window ${options.wsWindow})`,
      unit: 'msg/s',
      better: 'higher',
      chart: 'throughput',
    },
    {
      key: 'echo_p50_ms',
      label: 'ws: echo RTT p50',
      unit: 'ms',
      better: 'lower',
      chart: 'latency',
    },
    {
      key: 'echo_p99_ms',
      label: 'ws: echo RTT p99',
      unit: 'ms',
      better: 'lower',
      chart: 'latency',
    },
    { key: 'echo_closed', label: 'ws: closed during echo', unit: 'count', better: 'lower' },
    {
      key: 'burst_closed',
      label: `ws: closed in a burst of ${options.wsBurst}/client`,
      unit: 'count',
      better: 'lower',
    },
    { key: 'burst_lost', label: 'ws: burst echoes missing', unit: 'count', better: 'lower' },
    ...fanoutMetrics('ws fan-out').map((m) => ({ ...m, key: `fanout_${m.key}` })),
  ];
  return {
    name: 'ws',
    metrics,
    connections: options.ws,
    async run(ctx): Promise<WorkloadResult> {
      const { sut, fleet, log } = ctx;
      log(`ws: opening ${options.ws} WebSocket clients`);
      const open = await fleet.openWs(
        { host: '127.0.0.1', port: sut.clientPort },
        '/ws/wsfan',
        options.ws,
        openOptions(options),
      );
      if (open.opened === 0) {
        const reasons = describeCounts(open.errors);
        const isRefused = Object.keys(open.errors).some((reason) => reason.startsWith('status '));
        return {
          workload: 'ws',
          sut: sut.name,
          status: isRefused ? 'not available' : 'failed',
          note: `upgrade refused: ${reasons}`,
          metrics: {},
          summary: `${isRefused ? 'not available' : 'failed'}: no WebSocket opened (${reasons})`,
        };
      }
      log(`ws: ${open.opened} open; echo for ${options.duration} s`);
      const echo = await ctx.fleet.wsEcho(options.wsWindow, options.duration * 1000, echoDrainMs);
      const echoRate = echo.received / (echo.elapsedMs / 1000);
      log(`ws: burst of ${options.wsBurst} per client`);
      const burst = await fleet.wsBurst(options.wsBurst, burstDrainMs);
      const burstClosed = sumCounts(burst.closed) - sumCounts(echo.closed);
      const publisher = new HttpPublisher(sut.publishUrl);
      const counts = await fleet.counts();
      const alive = open.opened - counts.dropped;
      let fanout;
      try {
        fanout = await measureFanout(ctx, publisher, 'wsfan', 'ws-message', alive);
      } finally {
        await publisher.close();
      }
      const fanoutValues = Object.fromEntries(
        Object.entries(fanout.metrics).map(([k, v]) => [`fanout_${k}`, v]),
      );
      return {
        workload: 'ws',
        sut: sut.name,
        status: 'ok',
        note: connectNote(open),
        window: fanout.window,
        metrics: {
          echo_msgs_s: round(echoRate, 0),
          echo_p50_ms: round(echo.rtt.percentile(50)),
          echo_p99_ms: round(echo.rtt.percentile(99)),
          echo_closed: sumCounts(echo.closed),
          burst_closed: burstClosed,
          burst_lost: burst.sent - burst.received,
          ...fanoutValues,
        },
        detail: {
          clients: open.opened,
          echo: { sent: echo.sent, received: echo.received, closed: echo.closed },
          burst: {
            sent: burst.sent,
            received: burst.received,
            closed: burst.closed,
            p99: round(burst.rtt.percentile(99)),
          },
          fanout: fanout.detail,
        },
        summary:
          `${open.opened} clients: echo ${fmt(echoRate)} msgs/s, RTT p50 ${fmt(echo.rtt.percentile(50))} ms, ` +
          `p99 ${fmt(echo.rtt.percentile(99))} ms, ${sumCounts(echo.closed)} closed; burst ${burst.received}/${burst.sent} echoed, ${burstClosed} closed; ` +
          `fan-out ${fanout.summary}`,
      };
    },
  };
}
