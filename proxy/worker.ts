import type { Settings } from '../src/config/schema.js';
import type { Logger } from '../src/log.js';
import { loadRoutesFile } from '../src/routes/load.js';
import { UpstreamTrust } from './http/upstream-trust.js';
import { BackendPools } from './backend/backend-pools.js';
import { RouteSigners } from './backend/route-signers.js';
import { ChannelSubscriptions } from './bus/channel-subscriptions.js';
import { BusAnswers } from './bus/bus-answers.js';
import { ConnectionCap, defaultConnectionLimit } from './connection-cap.js';
import { GripResponder } from './hold/grip-responder.js';
import { ClientServer } from './http/client-server.js';
import { startHealthProbe } from './health-probe.js';
import { ProxyContext } from './proxy-context.js';
import { labelPerWorker, metricsContentType, renderMetrics } from '../src/metrics/metric-json.js';
import { StatsReport, startStatsReporting } from './stats-report.js';
import { WorkerStats } from './worker-stats.js';
import { spreadOverWindow } from './drain-schedule.js';
import { describeChanges, reloadSettings } from '../src/config/reload.js';
import { setLogLevel } from '../src/log.js';

/*
 * What one proxy worker owns and how it stops. It owns: the client listener (ClientServer,
 * with its WebSocket sessions and the connection cap), the requests on their way to the
 * backend (ProxyContext.inFlight), the holds (GripResponder), the bus subscriptions
 * (ChannelSubscriptions), the backend pools and the route signers. Draining stops
 * accepting, answers in-flight requests, and tells every held client to reconnect (SSE
 * `retry:`, long-poll 503 + Retry-After, WebSocket 1012), spread over --drain-timeout
 * (proxy/drain-schedule.ts); requests still running at its end are cut.
 */

export interface RunningWorker {
  /** The client port (the one asked for, or the one given for port 0). */
  port: number;
  maxConnections: number | undefined;
  routeCount: number;
  /**
   * SIGHUP: the settings and the routes file again. A broken file or a bad value keeps
   * everything as it was; settings that need a restart keep their old values.
   */
  reload(): Promise<void>;
  /** Stops accepting, ends holds and WebSockets, waits for in-flight requests, closes. */
  drain(signal: string): Promise<void>;
}

/**
 * `readSettings`: the settings from their sources (flags, environment, config file), read
 * again on each reload; throws ConfigError for a bad value.
 */
export async function startWorker(
  settings: Settings,
  log: Logger,
  readSettings: () => Settings,
): Promise<RunningWorker> {
  const { table, warnings } = loadRoutesFile(settings.routes);
  for (const warning of warnings) log.warn(warning);
  const signers = new RouteSigners(settings.sigKey, settings.sigIss);
  await signers.prepare(table);
  const pools = new BackendPools(Math.round(settings.backendTimeout * 1000));
  const stats = new WorkerStats();
  const answers = new BusAnswers(settings.stats, log.child({ component: 'proxy.answers' }));
  const subscriptions = new ChannelSubscriptions(
    settings.bus,
    log.child({ component: 'proxy.subscriptions' }),
    stats,
    settings.subscriptionLinger * 1000,
    answers,
  );
  const ctx = new ProxyContext(
    settings,
    log.child({ component: 'proxy.request' }),
    table,
    pools,
    signers,
    stats,
  );
  ctx.upstream = await UpstreamTrust.load(settings.upstreamKey);
  const grip = new GripResponder(
    ctx,
    subscriptions,
    log.child({ component: 'proxy.hold' }),
    settings.streamBufferMax,
    settings.subscriptionMax,
  );
  const server = new ClientServer(ctx, grip);
  const port = await server.listen(settings.host, settings.port);
  const maxConnections = settings.maxConnections || defaultConnectionLimit();
  if (maxConnections !== undefined) {
    server.connectionCap = new ConnectionCap(
      maxConnections,
      server,
      log.child({ component: 'proxy.cap' }),
    );
  }

  const report = new StatsReport({
    stats,
    ctx,
    grip,
    subscriptions,
    webSockets: server.webSockets,
    cap: () => server.connectionCap,
  });
  const statsLog = log.child({ component: 'proxy.stats' });
  let stopReporting =
    settings.metrics || settings.statusPage
      ? startStatsReporting(settings.stats, report, statsLog)
      : undefined;
  const renderOwnMetrics = async (): Promise<{ text: string; contentType: string }> => {
    const built = await report.build();
    const text = await renderMetrics([labelPerWorker(built.metrics, built.worker)]);
    return { text, contentType: metricsContentType };
  };

  let isDraining = false;
  const probe =
    settings.healthPort > 0
      ? await startHealthProbe(
          settings.host,
          settings.healthPort,
          () => {
            const problems: string[] = [];
            if (isDraining) problems.push('draining: this worker is stopping');
            if (!subscriptions.isBusConnected) {
              problems.push('not connected to the handler bus: publishes cannot reach this worker');
            }
            return problems;
          },
          settings.metrics ? renderOwnMetrics : undefined,
        )
      : undefined;

  let current = settings;
  const reload = async (): Promise<void> => {
    let change;
    let loaded;
    let upstream;
    try {
      change = reloadSettings(current, readSettings());
      loaded = loadRoutesFile(change.settings.routes);
      upstream = await UpstreamTrust.load(change.settings.upstreamKey);
    } catch (err) {
      log.error({ err: (err as Error).message }, 'reload refused; keeping every setting and route');
      return;
    }
    const next = change.settings;
    if (change.needsRestart.length > 0) {
      log.warn(
        { settings: change.needsRestart },
        'reload: these settings need a restart; keeping their old values',
      );
    }
    for (const warning of loaded.warnings) log.warn(warning);
    signers.defaultKey = next.sigKey;
    signers.defaultIss = next.sigIss;
    await signers.prepare(loaded.table);
    ctx.routes = loaded.table;
    ctx.applySettings(next);
    ctx.upstream = upstream;
    pools.connectTimeoutMs = Math.round(next.backendTimeout * 1000);
    grip.streamBufferMax = next.streamBufferMax;
    grip.subscriptionMax = next.subscriptionMax;
    setLogLevel(log, next.logLevel);
    const isReporting = next.metrics || next.statusPage;
    if (isReporting && !stopReporting) {
      stopReporting = startStatsReporting(next.stats, report, statsLog);
    } else if (!isReporting && stopReporting) {
      stopReporting();
      stopReporting = undefined;
    }
    current = next;
    log.info(
      { changed: describeChanges(change.applied, next), routes: loaded.table.routes.length },
      'reloaded settings and routes',
    );
  };

  const drain = async (signal: string): Promise<void> => {
    log.info(
      {
        signal,
        inFlight: ctx.inFlight.size,
        holds: grip.holds.size,
        channels: subscriptions.channelCount,
        // Timers that keep the process alive: hold timeouts and keep-alives; a leak shows here.
        timers: process.getActiveResourcesInfo().filter((type) => type === 'Timeout').length,
        slowClients: grip.slowClients,
      },
      'draining',
    );
    isDraining = true;
    server.stopListening();
    grip.isDraining = true;
    const windowMs = current.drainTimeout * 1000;
    const hints = [
      ...[...grip.holds].map((hold) => () => hold.drain()),
      ...[...server.webSockets].map((session) => () => session.shutdown()),
    ];
    log.info({ clients: hints.length, windowMs }, 'telling held clients to reconnect');
    await Promise.all([spreadOverWindow(hints, windowMs), waitForInFlight(ctx, windowMs, log)]);
    // The last close frames and stream ends leave with the next loop turns.
    await waitUntil(() => server.webSockets.size === 0, 1_000);
    ctx.lifetimes.close();
    subscriptions.close();
    answers.close();
    stopReporting?.();
    signers.close();
    server.connectionCap?.close();
    probe?.close();
    await pools.close();
  };

  return { port, maxConnections, routeCount: table.routes.length, reload, drain };
}

/** Resolves once `isDone()`, or after `timeoutMs`. */
function waitUntil(isDone: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  return new Promise((resolve) => {
    const check = (): void => {
      if (isDone() || Date.now() >= deadline) resolve();
      else setTimeout(check, 20);
    };
    check();
  });
}

/** Resolves once no request is in flight, or at the deadline (then says how many were cut). */
function waitForInFlight(ctx: ProxyContext, timeoutMs: number, log: Logger): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  return new Promise((resolve) => {
    const check = setInterval(() => {
      if (ctx.inFlight.size > 0 && Date.now() < deadline) return;
      clearInterval(check);
      if (ctx.inFlight.size > 0) {
        log.warn({ inFlight: ctx.inFlight.size }, 'drain timeout: cutting requests');
      }
      resolve();
    }, 50);
  });
}
