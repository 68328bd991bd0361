import * as zmq from 'zeromq';
import { decodeDelivery, splitBusMessage, type Delivery } from '../src/ipc/delivery.js';
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
 * This worker's channel subscriptions on the handler's bus. Every bus message reaches this
 * worker (empty-topic subscription: messages batch items of many channels), and items
 * for channels no local hold listens on are dropped before their header is parsed. The SUB
 * socket also subscribes exactly the channels held here, which is how the handler counts
 * listeners and knows when to replay. Closes the subscribe race: the handler replays a channel's last seconds of
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
    this.socket.subscribe('');
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
    const set = this.subscribers.get(frames[0]!.toString('utf8'));
    if (!set) return; // a channel held by another worker, or one we just left
    const delivery = decodeDelivery(frames);
    if (!delivery) {
      this.log.warn({ frames: frames.length }, 'ignored a malformed delivery from the handler');
      return;
    }
    if (!this.remember(delivery)) return;
    for (const subscriber of set) {
      if (delivery.header.time < subscriber.since) continue;
      try {
        subscriber.deliver(delivery);
      } catch (err) {
        // One failing connection must not stop this worker receiving publishes.
        this.log.error({ err, channel: delivery.channel }, 'delivery to a subscriber failed');
      }
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
