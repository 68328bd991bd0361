import { randomBytes } from 'node:crypto';
import * as zmq from 'zeromq';
import {
  decodeDelivery,
  replayEndPrefix,
  splitBusMessage,
  type Delivery,
} from '../../src/ipc/delivery.js';
import { preciseNow } from '../../src/ipc/clock.js';
import type { Logger } from '../../src/log.js';

/** Something held in this worker that listens on channels (a response or stream hold). */
export interface Subscriber {
  /**
   * preciseNow() (src/ipc/clock) when the request left for the backend:
   * items the handler accepted before it are not for this subscriber. Date.now() would
   * make an item accepted in the same millisecond, just before, count as new.
   */
  readonly since: number;
  /**
   * True when the item's prev-id is this subscriber's position on its channel (the prev-id
   * the backend gave): it is the next item, whenever the handler accepted it. Positions
   * decide before clocks do: `since` is taken in this process and compared with the
   * handler's clock, which a busy machine can put a millisecond apart.
   */
  follows?(delivery: Delivery): boolean;
  /**
   * `isBroadcast`: the broadcaster already sent the item to every socket that joined its
   * channel there; such a subscriber only does its bookkeeping.
   */
  deliver(delivery: Delivery, isBroadcast: boolean): void;
}

/** Sends one item to many subscribers of a channel in one call (uWS pub/sub, ws-topics.ts). */
export interface Broadcaster {
  /** True when it sent the item; false leaves every subscriber to its own delivery. */
  publish(channel: string, delivery: Delivery): boolean;
}

/** Items accepted after the subscriber's request left are for it, and so is its next item. */
function isFor(subscriber: Subscriber, delivery: Delivery): boolean {
  return delivery.header.time >= subscriber.since || subscriber.follows?.(delivery) === true;
}

/**
 * Recent items are kept a little longer than the handler keeps them (5 s), so a replay the
 * handler sends when another worker subscribes is always recognised here as a duplicate.
 */
const recentWindowMs = 6_000;
const recentMax = 100;

/** Bound on waiting for the handler's replay-end (a handler that is down never sends it). */
const replayWaitMs = 2_000;

interface PendingReplay {
  topic: string;
  timer: NodeJS.Timeout;
}

/**
 * This worker's channel subscriptions on the handler's bus. Every bus message reaches this
 * worker (empty-topic subscription: messages batch items of many channels), and items
 * for channels no local hold listens on are dropped before their header is parsed. The SUB
 * socket also subscribes exactly the channels held here, which is how the handler counts
 * listeners and knows when to replay.
 *
 * Closes the subscribe race: the handler replays a channel's last seconds of items on
 * every new subscription, and a new local subscriber is also given the items this worker
 * received since the subscriber's request went to the backend. Until the handler's
 * replay-end for a newly subscribed channel arrives, its items are only collected, then
 * delivered in publish order: a live item must not overtake an older replayed one.
 */
export class ChannelSubscriptions {
  private readonly socket = new zmq.Subscriber({ receiveHighWaterMark: 0, reconnectInterval: 100 });
  private readonly subscribers = new Map<string, Set<Subscriber>>();
  private readonly recent = new Map<string, Delivery[]>();
  /** Newly subscribed channels whose replay has not ended, and the topics that end them. */
  private readonly awaitingReplay = new Map<string, PendingReplay>();
  private readonly replayEnds = new Map<string, string>();
  private readonly replayTopicPrefix = `${replayEndPrefix}${randomBytes(6).toString('hex')}:`;
  private replayCount = 0;
  private broadcaster: Broadcaster | undefined;
  private readonly sweepTimer: NodeJS.Timeout;
  private isClosed = false;
  /** Whether the handler's bus is connected now (ZeroMQ reconnects by itself). */
  isBusConnected = false;

  constructor(
    busSpec: string,
    private readonly log: Logger,
  ) {
    this.socket.events.on('connect', () => (this.isBusConnected = true));
    this.socket.events.on('disconnect', () => (this.isBusConnected = false));
    this.socket.connect(busSpec);
    this.socket.subscribe('');
    this.sweepTimer = setInterval(() => this.sweep(), 1_000);
    this.sweepTimer.unref();
    void this.receive();
  }

  get channelCount(): number {
    return this.subscribers.size;
  }

  /** Set once the worker's uWS app exists (its WebSocket behaviour is registered). */
  useBroadcaster(broadcaster: Broadcaster): void {
    this.broadcaster = broadcaster;
  }

  add(channel: string, subscriber: Subscriber): void {
    let set = this.subscribers.get(channel);
    if (!set) {
      set = new Set();
      this.subscribers.set(channel, set);
      this.socket.subscribe(channel);
      this.awaitReplay(channel);
      this.log.debug({ channel, channels: this.subscribers.size }, 'channel subscribed');
    }
    set.add(subscriber);
    if (this.awaitingReplay.has(channel)) return; // delivered in order when the replay ends
    const recent = this.recent.get(channel);
    if (recent) {
      for (const delivery of recent) {
        if (isFor(subscriber, delivery)) subscriber.deliver(delivery, false);
      }
    }
  }

  remove(channel: string, subscriber: Subscriber): void {
    const set = this.subscribers.get(channel);
    if (!set || !set.delete(subscriber)) return;
    if (set.size === 0) {
      // At once, long-polls included (Pushpin lingers 60 s so a returning long-poll misses
      // nothing; here the handler's replay on the next subscribe covers that gap).
      this.subscribers.delete(channel);
      this.forgetReplay(channel);
      if (!this.isClosed) this.socket.unsubscribe(channel);
      this.log.debug({ channel, channels: this.subscribers.size }, 'channel unsubscribed');
    }
  }

  close(): void {
    this.isClosed = true;
    clearInterval(this.sweepTimer);
    for (const { timer } of this.awaitingReplay.values()) clearTimeout(timer);
    this.socket.close();
  }

  private async receive(): Promise<void> {
    try {
      for await (const frames of this.socket) {
        const deliveries = frames.length === 1 ? splitBusMessage(frames[0]!) : undefined;
        if (!deliveries) {
          this.log.warn({ frames: frames.length }, 'ignored a malformed message from the handler');
          continue;
        }
        for (const delivery of deliveries) this.dispatch(delivery);
      }
    } catch (err) {
      if (!this.isClosed) this.log.error({ err: (err as Error).message }, 'bus receive failed');
    }
  }

  private dispatch(frames: Buffer[]): void {
    const channel = frames[0]!.toString('utf8');
    const set = this.subscribers.get(channel);
    if (!set) {
      const replayed = this.replayEnds.get(channel);
      if (replayed !== undefined) this.endReplay(replayed);
      return; // otherwise a channel held by another worker, or one we just left
    }
    const delivery = decodeDelivery(frames, channel);
    if (!delivery) {
      this.log.warn({ frames: frames.length }, 'ignored a malformed delivery from the handler');
      return;
    }
    if (!this.remember(delivery)) return;
    if (this.awaitingReplay.has(channel)) return;
    const isBroadcast = this.broadcaster?.publish(channel, delivery) ?? false;
    for (const subscriber of set) this.deliver(subscriber, delivery, isBroadcast);
  }

  private deliver(subscriber: Subscriber, delivery: Delivery, isBroadcast: boolean): void {
    if (!isFor(subscriber, delivery)) return;
    try {
      subscriber.deliver(delivery, isBroadcast);
    } catch (err) {
      // One failing connection must not stop this worker receiving publishes.
      this.log.error({ err, channel: delivery.channel }, 'delivery to a subscriber failed');
    }
  }

  private awaitReplay(channel: string): void {
    const topic = `${this.replayTopicPrefix}${++this.replayCount}`;
    const timer = setTimeout(() => {
      this.log.warn({ channel }, 'no replay-end from the handler; delivering what arrived');
      this.endReplay(channel);
    }, replayWaitMs);
    timer.unref();
    this.awaitingReplay.set(channel, { topic, timer });
    this.replayEnds.set(topic, channel);
    this.socket.subscribe(topic);
  }

  /** The channel's replay is complete: everything collected goes out in publish order. */
  private endReplay(channel: string): void {
    this.forgetReplay(channel);
    const set = this.subscribers.get(channel);
    const recent = this.recent.get(channel);
    if (!set || !recent) return;
    for (const delivery of [...recent]) {
      for (const subscriber of set) this.deliver(subscriber, delivery, false);
    }
  }

  private forgetReplay(channel: string): void {
    const pending = this.awaitingReplay.get(channel);
    if (!pending) return;
    clearTimeout(pending.timer);
    this.awaitingReplay.delete(channel);
    this.replayEnds.delete(pending.topic);
    if (!this.isClosed) this.socket.unsubscribe(pending.topic);
  }

  /** Keeps the item for late subscribers; false when it was seen already (a replay). */
  private remember(delivery: Delivery): boolean {
    let list = this.recent.get(delivery.channel);
    if (!list) {
      list = [];
      this.recent.set(delivery.channel, list);
    }
    const seq = delivery.header.seq;
    let at = list.length;
    while (at > 0 && list[at - 1]!.header.seq >= seq) {
      if (list[at - 1]!.header.seq === seq) return false;
      at--;
    }
    list.splice(at, 0, delivery);
    if (list.length > recentMax) list.shift();
    return true;
  }

  private sweep(): void {
    const cutoff = preciseNow() - recentWindowMs;
    for (const [channel, list] of this.recent) {
      let drop = 0;
      while (drop < list.length && list[drop]!.header.time < cutoff) drop++;
      if (drop === list.length) this.recent.delete(channel);
      else if (drop > 0) list.splice(0, drop);
    }
  }
}
