import type { Settings } from '../src/config/schema.js';
import type { PublishItem } from '../src/grip/publish-types.js';
import { preciseNow } from '../src/ipc/clock.js';
import type { Logger } from '../src/log.js';
import { Bus } from './bus.js';
import { createControlAuth } from './control-auth.js';
import { HttpInput } from './inputs/http.js';
import type { PublishInput } from './inputs/publish-input.js';
import { ZmqPullInput } from './inputs/zmq-pull.js';
import { ZmqSubInput } from './inputs/zmq-sub.js';
import { Sequencer } from './sequencer.js';

/*
 * The handler's wiring: every input hands items to the sequencer, which releases them in
 * order to the bus. The bus's listener tracking decides which items are sequenced, which
 * channels the SUB input asks publishers for, and when a channel's last id is forgotten.
 */

export interface RunningHandler {
  /** Bound addresses by role, for the ready log. */
  addresses: Record<string, string>;
  close(): Promise<void>;
}

export async function startHandler(settings: Settings, logger: Logger): Promise<RunningHandler> {
  const bus = new Bus({
    endpoint: settings.bus,
    logger: logger.child({ component: 'handler.bus' }),
  });
  const sequencer = new Sequencer({ release: (item, time) => bus.deliver(item, time) });

  const publish = (item: PublishItem): void => {
    try {
      // Sub-millisecond, as workers compare it with when their request left (src/ipc/clock).
      const time = preciseNow();
      sequencer.add(item, time, !item.noSeq && bus.hasSubscribers(item.channel));
    } catch (err) {
      logger.error({ err, channel: item.channel }, 'publish failed');
    }
  };

  const subInput = new ZmqSubInput({
    endpoint: settings.zmqSub,
    isConnect: settings.zmqSubConnect,
    maxMessageSize: settings.publishBodyMax,
    logger: logger.child({ component: 'handler.zmq-sub' }),
    publish,
  });
  const httpInput = new HttpInput({
    host: settings.controlHost,
    port: settings.controlPort,
    bodyMax: settings.publishBodyMax,
    readTimeout: settings.controlReadTimeout,
    maxConnections: settings.controlMaxConnections,
    logger: logger.child({ component: 'handler.http' }),
    publish,
    recover: () => {
      sequencer.recover();
      logger.info("recover: forgot every channel's last id");
    },
    auth: createControlAuth({ token: settings.controlToken, jwtKey: settings.controlJwtKey }),
    readiness: () => {
      const workers = bus.workerCount;
      return {
        problems: workers > 0 ? [] : ['no proxy worker is connected to the handler bus'],
        detail: { workers },
      };
    },
  });
  const pullInput = new ZmqPullInput({
    endpoint: settings.zmqPull,
    maxMessageSize: settings.publishBodyMax,
    logger: logger.child({ component: 'handler.zmq-pull' }),
    publish,
  });
  // HTTP starts last: a 200 is only given once every input is up, so a handler that fails
  // to start never acknowledged a publish it then took down with it.
  const inputs: PublishInput[] = [pullInput, subInput, httpInput];

  bus.on('channelActive', (channel) => subInput.subscribe(channel));
  bus.on('channelIdle', (channel) => {
    sequencer.forgetChannel(channel);
    subInput.unsubscribe(channel);
  });

  // Every part's close() is safe before or after a failed start.
  const close = async (): Promise<void> => {
    sequencer.close();
    // Inputs first, so nothing is accepted that the bus could no longer send.
    const results = await Promise.allSettled(inputs.map((input) => input.close()));
    results.push(...(await Promise.allSettled([bus.close()])));
    for (const result of results) {
      if (result.status === 'rejected') logger.warn({ err: result.reason }, 'close failed');
    }
  };
  try {
    await bus.start();
    for (const input of inputs) await input.start();
  } catch (err) {
    await close();
    throw err;
  }

  const addresses = {
    control: httpInput.address,
    zmqPull: pullInput.address,
    zmqSub: subInput.address,
    bus: bus.address,
  };
  return { addresses, close };
}
