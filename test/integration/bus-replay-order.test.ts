import { pino } from 'pino';
import { afterEach, expect, test } from 'vitest';
import * as zmq from 'zeromq';
import type { PublishItem } from '../../src/grip/publish-types.js';
import { encodeBusMessage, encodeDelivery, encodeReplayEnd } from '../../src/ipc/delivery.js';
import { WorkerStats } from '../../proxy/worker-stats.js';
import { ChannelSubscriptions, type Subscriber } from '../../proxy/bus/channel-subscriptions.js';

/*
 * A worker's channel subscriptions against a stand-in handler (a real XPUB), so the order in
 * which live items, replayed items and the replay-end reach the worker is chosen by the test.
 */

const closers: (() => void)[] = [];
afterEach(() => {
  for (const close of closers.splice(0)) close();
});

async function start(): Promise<{ xpub: zmq.XPublisher; subscriptions: ChannelSubscriptions }> {
  const xpub = new zmq.XPublisher({ linger: 0, receiveTimeout: 5000 });
  xpub.verbosity = 'allSubsUnsubs';
  await xpub.bind('tcp://127.0.0.1:*');
  const subscriptions = new ChannelSubscriptions(
    xpub.lastEndpoint!,
    pino({ level: 'silent' }),
    new WorkerStats(),
  );
  closers.push(
    () => subscriptions.close(),
    () => xpub.close(),
  );
  expect(await nextTopic(xpub)).toBe(''); // connected: it takes every bus message
  return { xpub, subscriptions };
}

async function nextTopic(xpub: zmq.XPublisher): Promise<string> {
  const [message] = await xpub.receive();
  expect(message![0]).toBe(1);
  return message!.toString('utf8', 1);
}

function item(channel: string, content: string): PublishItem {
  return {
    channel,
    noSeq: false,
    formats: { httpStream: { action: 'send', content: Buffer.from(content) } },
  };
}

function collector(): Subscriber & { got: string[]; waitFor(n: number): Promise<void> } {
  const got: string[] = [];
  let wake = (): void => {};
  return {
    since: 0,
    got,
    deliver(delivery) {
      got.push(delivery.payload[delivery.header.stream!.content]!.toString());
      wake();
    },
    waitFor(n) {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`got only ${got.join(',')}`)), 5000);
        wake = () => {
          if (got.length < n) return;
          clearTimeout(timer);
          resolve();
        };
        wake();
      });
    },
  };
}

const send = (xpub: zmq.XPublisher, frames: Buffer[][]) => xpub.send(encodeBusMessage(frames));

test('a live item that arrives before the replay of an older one is delivered after it', async () => {
  const { xpub, subscriptions } = await start();
  const subscriber = collector();
  subscriptions.add('c', subscriber);
  expect(await nextTopic(xpub)).toBe('c');
  const replayEnd = await nextTopic(xpub);
  // Published after the subscription left the worker, before the handler saw it...
  await send(xpub, [encodeDelivery(item('c', 'live'), 2, Date.now())]);
  // ...so the handler's replay of the older item comes later, then its replay-end.
  await send(xpub, [
    encodeDelivery(item('c', 'replayed'), 1, Date.now()),
    encodeReplayEnd(replayEnd),
  ]);
  await subscriber.waitFor(2);
  expect(subscriber.got).toEqual(['replayed', 'live']);
  // The worker no longer needs the replay-end topic; later items go straight through.
  const [unsubscribe] = await xpub.receive();
  expect([unsubscribe![0], unsubscribe!.toString('utf8', 1)]).toEqual([0, replayEnd]);
  await send(xpub, [encodeDelivery(item('c', 'after'), 3, Date.now())]);
  await subscriber.waitFor(3);
  expect(subscriber.got).toEqual(['replayed', 'live', 'after']);
});

test('a handler that never ends the replay still gets the items through, in order', async () => {
  const { xpub, subscriptions } = await start();
  const subscriber = collector();
  subscriptions.add('d', subscriber);
  expect(await nextTopic(xpub)).toBe('d');
  await nextTopic(xpub);
  await send(xpub, [encodeDelivery(item('d', 'second'), 2, Date.now())]);
  await send(xpub, [encodeDelivery(item('d', 'first'), 1, Date.now())]);
  await subscriber.waitFor(2);
  expect(subscriber.got).toEqual(['first', 'second']);
});
