import * as zmq from 'zeromq';
import { decodeDelivery, type Delivery } from '../src/ipc/delivery.js';
import type { Logger } from '../src/log.js';

/** Something held in this worker that listens on channels (a response or stream hold). */
export interface Subscriber {
  /**
   * Epoch ms from preciseNow() (src/ipc/clock) when the request left for the backend:
   * items the handler accepted before it are not for this subscriber. Date.now() would
   * make an item accepted in the same millisecond, just before, count as new.
   */
  readonly since: number;
  deliver(delivery: Delivery): void;
}

/**
 * Recent items are kept a little longer than the handler keeps them (5 s), so a replay the
 * handler sends when another worker subscribes is always recognised here as a duplicate.
 */
const recentWindowMs = 6_000;
const recentMax = 100;

/**
 * This worker's channel subscriptions on the handler's bus. Subscribes the SUB socket to
 * exactly the channels local holds listen on and checks topics exactly (ZeroMQ matches
 * prefixes). Closes the subscribe race: the handler replays a channel's last seconds of
 * items on every new subscription, and a new local subscriber is also given the items this
 * worker received since the subscriber's request went to the backend.
 */
export class ChannelSubscriptions {
  private readonly socket = new zmq.Subscriber({ receiveHighWaterMark: 0, reconnectInterval: 100 });
  private readonly subscribers = new Map<string, Set<Subscriber>>();
  private readonly recent = new Map<string, Delivery[]>();
  private readonly sweepTimer: NodeJS.Timeout;
  private isClosed = false;

  constructor(
    busSpec: string,
    private readonly log: Logger,
  ) {
    this.socket.connect(busSpec);
    this.sweepTimer = setInterval(() => this.sweep(), 1_000);
    this.sweepTimer.unref();
    void this.receive();
  }

  get channelCount(): number {
    return this.subscribers.size;
  }

  add(channel: string, subscriber: Subscriber): void {
    let set = this.subscribers.get(channel);
    if (!set) {
      set = new Set();
      this.subscribers.set(channel, set);
      this.socket.subscribe(channel);
      this.log.debug({ channel, channels: this.subscribers.size }, 'channel subscribed');
    }
    set.add(subscriber);
    const recent = this.recent.get(channel);
    if (recent) {
      for (const delivery of recent) {
        if (delivery.header.time >= subscriber.since) subscriber.deliver(delivery);
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
      if (!this.isClosed) this.socket.unsubscribe(channel);
      this.log.debug({ channel, channels: this.subscribers.size }, 'channel unsubscribed');
    }
  }

  close(): void {
    this.isClosed = true;
    clearInterval(this.sweepTimer);
    this.socket.close();
  }

  private async receive(): Promise<void> {
    try {
      for await (const frames of this.socket) {
        const delivery = decodeDelivery(frames);
        if (!delivery) {
          this.log.warn({ frames: frames.length }, 'ignored a malformed message from the handler');
          continue;
        }
        this.dispatch(delivery);
      }
    } catch (err) {
      if (!this.isClosed) this.log.error({ err: (err as Error).message }, 'bus receive failed');
    }
  }

  private dispatch(delivery: Delivery): void {
    const set = this.subscribers.get(delivery.channel);
    if (!set) return; // a prefix match of another channel, or one we just left
    if (!this.remember(delivery)) return;
    for (const subscriber of set) {
      if (delivery.header.time >= subscriber.since) subscriber.deliver(delivery);
    }
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
    const cutoff = Date.now() - recentWindowMs;
    for (const [channel, list] of this.recent) {
      let drop = 0;
      while (drop < list.length && list[drop]!.header.time < cutoff) drop++;
      if (drop === list.length) this.recent.delete(channel);
      else if (drop > 0) list.splice(0, drop);
    }
  }
}
