import type { Settings } from '../src/config/schema.js';
import { RedisUnavailableError } from '../src/errors.js';
import type { PublishItem } from '../src/grip/publish-types.js';
import { preciseNow } from '../src/ipc/clock.js';
import type { Logger } from '../src/log.js';
import { isRedisMode } from '../src/redis-mode.js';
import { Bus } from './bus.js';
import { History, subscribeReplayMs } from './history.js';
import { ReloadableAuth } from './control-auth.js';
import { readControlTls } from './control-tls.js';
import { describeChanges, reloadSettings } from '../src/config/reload.js';
import { setLogLevel } from '../src/log.js';
import { HttpInput } from './inputs/http.js';
import type { PublishInput, PublishSink } from './inputs/publish-input.js';
import { ZmqPullInput } from './inputs/zmq-pull.js';
import { ZmqSubInput } from './inputs/zmq-sub.js';
import { RedisFanout } from './redis/redis-fanout.js';
import { Sequencer } from './sequencer.js';
import { addressedConnection } from '../src/grip/channel-name.js';
import { childRestarts } from '../src/runner/child-env.js';
import { ControlPages } from './control-pages.js';
import { HandlerStats } from './metrics/handler-stats.js';
import { WorkerReports } from './metrics/worker-reports.js';
import { startMetricsPort } from './metrics/metrics-port.js';
import type { OutcomeCounter } from './inputs/publish-input.js';
import { AskedPublishes } from './receipts/asked-publishes.js';
import type { DeliveryAsk } from '../src/ipc/delivery.js';

/*
 * The handler's wiring: every input hands items to the sequencer, which releases them in
 * order to the bus. The bus's listener tracking decides which items are sequenced, which
 * channels the SUB input asks publishers for, and when a channel's last id is forgotten.
 * With Redis (many nodes), inputs hand items to Redis instead, and the sequencer takes
 * them back from Redis, from every node, in the order Redis stored them.
 */

export interface RunningHandler {
  /** Bound addresses by role, for the ready log. */
  addresses: Record<string, string>;
  /**
   * SIGHUP: settings read again from their sources. Those that need a restart keep their
   * old values (and are named in the log); the rest apply to the next publish or request.
   */
  reload(next: Settings): void;
  close(): Promise<void>;
}

export async function startHandler(settings: Settings, logger: Logger): Promise<RunningHandler> {
  const stats = new HandlerStats();
  const countRedis = stats.counter('redis');
  const countPull = stats.counter('zmq-pull');
  const countSub = stats.counter('zmq-sub');
  const history = new History({
    maxAgeMs: settings.historyTtl * 1000,
    perChannelMax: settings.historySize,
    perChannelBytesMax: settings.historyMaxBytes,
  });
  // First, so that a Redis that cannot be used stops the start before anything is bound.
  // Items only arrive once the bus has subscribers.
  const redis = isRedisMode(settings)
    ? await RedisFanout.start({
        settings,
        logger: logger.child({ component: 'handler.redis' }),
        onItem: (item, time, position, ageMs, ask) => {
          countRedis('accepted');
          // Read back from the stream and older than the subscribe race: history for
          // resumes, not for any hold here (a live item's age is 0).
          if (ageMs > subscribeReplayMs) bus.remember(item, time, position, Date.now() - ageMs);
          else sequence(item, time, position, ask && asked.relay(ask));
        },
        onDirectItem: (item, ask) => {
          if (ask?.kind === 'listeners') {
            bus.askListeners(item.channel, asked.relay(ask));
            return;
          }
          if (ask?.kind !== 'client-ack') countRedis('accepted');
          bus.deliverDirect(item, preciseNow(), ask && asked.relay(ask));
        },
        onReply: (reply) => asked.onNodeReply(reply),
        lastPosition: (channel) => history.lastPosition(channel),
        historySize: settings.historySize,
        historyTtlMs: settings.historyTtl * 1000,
      })
    : undefined;
  const bus = new Bus({
    endpoint: settings.bus,
    logger: logger.child({ component: 'handler.bus' }),
    history,
    whenCaughtUp: (channel) => redis?.caughtUp(channel) ?? Promise.resolve(),
  });
  const asked = new AskedPublishes({
    logger: logger.child({ component: 'handler.receipts' }),
    workerCount: () => bus.workerCount,
    sendLocal: (item, ask) => sequence(item, preciseNow(), undefined, ask),
    askLocal: (channel, ask) => bus.askListeners(channel, ask),
    redis,
    countAck: (outcome, count) => stats.countClientAcks(outcome, count),
  });
  /** Items released with an ask (a receipt): looked up only while a receipt is open. */
  const itemAsks = new WeakMap<PublishItem, DeliveryAsk>();
  const sequencer = new Sequencer({
    release: (item, time, position) =>
      bus.deliver(item, time, position, asked.isAsking ? itemAsks.get(item) : undefined),
  });
  function sequence(item: PublishItem, time: number, position?: string, ask?: DeliveryAsk): void {
    if (addressedConnection(item.channel) !== undefined) {
      bus.deliverDirect(item, time, ask);
      return;
    }
    if (ask) itemAsks.set(item, ask);
    const isListened = bus.hasSubscribers(item.channel);
    if (!isListened) stats.noListener++;
    try {
      sequencer.add(item, time, !item.noSeq && isListened, position);
    } catch (err) {
      logger.error({ err, channel: item.channel }, 'publish failed');
    }
  }
  // Sub-millisecond, as workers compare it with when their request left (src/ipc/clock).
  const publish: PublishSink = redis
    ? (item) =>
        addressedConnection(item.channel) === undefined
          ? redis.publish(item)
          : redis.publishDirect(item)
    : (item) => sequence(item, preciseNow());
  // ZeroMQ publishers get no answer: an item Redis did not take is reported in the log.
  let lostLoggedAt = 0;
  let lost = 0;
  const publishUnanswered = (item: PublishItem, count: OutcomeCounter): void => {
    const result = publish(item);
    if (!result) {
      count('accepted');
      return;
    }
    result.then(() => count('accepted'));
    result.catch((err: unknown) => {
      count('unavailable');
      lost++;
      if (Date.now() - lostLoggedAt < 5_000) return;
      lostLoggedAt = Date.now();
      const message = err instanceof RedisUnavailableError ? err.message : String(err);
      logger.error({ lost, channel: item.channel }, `ZeroMQ publishes lost: ${message}`);
      lost = 0;
    });
  };

  const subInput = new ZmqSubInput({
    endpoint: settings.zmqSub,
    isConnect: settings.zmqSubConnect,
    maxMessageSize: settings.publishBodyMax,
    logger: logger.child({ component: 'handler.zmq-sub' }),
    publish: (item) => publishUnanswered(item, countSub),
    onInvalid: () => countSub('invalid'),
  });
  const controlTls = readControlTls(settings.controlTlsCert, settings.controlTlsKey);
  const auth = new ReloadableAuth({ token: settings.controlToken, jwtKey: settings.controlJwtKey });
  const reports = new WorkerReports(
    settings.stats,
    logger.child({ component: 'handler.stats' }),
    (answers) => {
      asked.onWorkerAnswers(answers);
      for (const answer of answers) if (answer.kind === 'resume') bus.resume(answer.topic);
    },
  );
  const pages = new ControlPages({
    stats,
    reports,
    state: () => ({
      mode: redis?.mode ?? 'single',
      workers: bus.workerCount,
      channels: bus.channelCount,
      isRedisConnected: redis?.isConnected,
      restarts: childRestarts(),
    }),
    isMetricsOn: settings.metrics,
    isStatusPageOn: settings.statusPage,
  });
  const httpInput = new HttpInput({
    host: settings.controlHost,
    port: settings.controlPort,
    bodyMax: settings.publishBodyMax,
    readTimeout: settings.controlReadTimeout,
    maxConnections: settings.controlMaxConnections,
    logger: logger.child({ component: 'handler.http' }),
    publish,
    whenSent: redis ? undefined : () => bus.whenSent(),
    publishAsked: (item, ask) => asked.publish(item, ask),
    recover: () => {
      sequencer.recover();
      logger.info("recover: forgot every channel's last id");
    },
    auth,
    tls: controlTls,
    count: stats.counter('http'),
    page: pages.page,
    readiness: () => {
      const workers = bus.workerCount;
      const problems = workers > 0 ? [] : ['no proxy worker is connected to the handler bus'];
      if (redis && !redis.isConnected) problems.push('Redis is unreachable');
      return { problems, detail: { workers } };
    },
  });
  const pullInput = new ZmqPullInput({
    endpoint: settings.zmqPull,
    maxMessageSize: settings.publishBodyMax,
    logger: logger.child({ component: 'handler.zmq-pull' }),
    publish: (item) => publishUnanswered(item, countPull),
    onInvalid: () => countPull('invalid'),
  });
  // HTTP starts last: a 200 is only given once every input is up, so a handler that fails
  // to start never acknowledged a publish it then took down with it.
  const inputs: PublishInput[] = [pullInput, subInput, httpInput];

  bus.on('channelActive', (channel) => {
    subInput.subscribe(channel);
    redis?.subscribe(channel);
  });
  bus.on('channelIdle', (channel) => {
    sequencer.forgetChannel(channel);
    subInput.unsubscribe(channel);
    redis?.unsubscribe(channel);
  });

  let metricsPort: Awaited<ReturnType<typeof startMetricsPort>> | undefined;
  // Every part's close() is safe before or after a failed start.
  const close = async (): Promise<void> => {
    sequencer.close();
    asked.close();
    // Inputs first, so nothing is accepted that the bus could no longer send.
    const results = await Promise.allSettled(inputs.map((input) => input.close()));
    const parts = [bus.close(), redis?.close(), reports.close(), metricsPort?.close()];
    results.push(...(await Promise.allSettled(parts)));
    for (const result of results) {
      if (result.status === 'rejected') logger.warn({ err: result.reason }, 'close failed');
    }
  };
  try {
    await bus.start();
    await reports.start();
    for (const input of inputs) await input.start();
    if (settings.metrics && settings.metricsPort > 0) {
      metricsPort = await startMetricsPort({
        host: settings.controlHost,
        port: settings.metricsPort,
        auth,
        tls: controlTls,
        metrics: () => pages.metrics(),
      });
    }
  } catch (err) {
    await close();
    throw err;
  }

  const addresses = {
    control: httpInput.address,
    zmqPull: pullInput.address,
    zmqSub: subInput.address,
    bus: bus.address,
    stats: reports.address,
    ...(metricsPort ? { metrics: metricsPort.address } : {}),
  };
  let current = settings;
  const reload = (next: Settings): void => {
    const change = reloadSettings(current, next);
    if (change.needsRestart.length > 0) {
      logger.warn(
        { settings: change.needsRestart },
        'reload: these settings need a restart; keeping their old values',
      );
    }
    const applied = change.settings;
    auth.set({ token: applied.controlToken, jwtKey: applied.controlJwtKey });
    history.setLimits({
      maxAgeMs: applied.historyTtl * 1000,
      perChannelMax: applied.historySize,
      perChannelBytesMax: applied.historyMaxBytes,
    });
    if (redis) {
      redis.historySize = applied.historySize;
      redis.historyTtlMs = applied.historyTtl * 1000;
    }
    httpInput.setLimits({
      bodyMax: applied.publishBodyMax,
      readTimeout: applied.controlReadTimeout,
      maxConnections: applied.controlMaxConnections,
    });
    pages.isMetricsOn = applied.metrics;
    pages.isStatusPageOn = applied.statusPage;
    setLogLevel(logger, applied.logLevel);
    current = applied;
    logger.info({ changed: describeChanges(change.applied, applied) }, 'reloaded settings');
  };
  return { addresses, close, reload };
}
