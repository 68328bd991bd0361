import { randomBytes } from 'node:crypto';
import { UnboundedSubscriber } from '../../src/ipc/unbounded-subscriber.js';
import {
  decodeDelivery,
  decodeResumeStatus,
  encodeResumeTopic,
  isAsked,
  replayEndPrefix,
  splitBusMessage,
  type Delivery,
  type ResumeStatus,
} from '../../src/ipc/delivery.js';
import { preciseNow } from '../../src/ipc/clock.js';
import { addressedConnection } from '../../src/grip/channel-name.js';
import type { WorkerStats } from '../worker-stats.js';
import type { Logger } from '../../src/log.js';
import type { Tally } from '../../src/ipc/bus-answer.js';
import type { BusAnswers } from './bus-answers.js';
import { PendingAcks } from './pending-acks.js';

/** Something held in this worker that listens on channels (a response or stream hold). */
export interface Subscriber {
  /** The held connection's id, for deliver-to-one (a getter: no field per subscriber). */
  readonly cid?: string | undefined;
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
  /**
   * The answer to a resume (add() with a prev-id): the items that followed the prev-id,
   * in order (they follow it whatever their own prev-ids say), or `gap` when history no
   * longer reaches it and the backend must fill it in. Live items come after, through
   * deliver(). Not called when history knows nothing of the channel: the subscriber is
   * then an ordinary one.
   */
  resume?(channel: string, answer: ResumeAnswer): void;
  /**
   * A long-poll: it comes back for the next item, so its channels stay subscribed for the
   * linger after it leaves (Pushpin's `subscription_linger`, response holds only).
   */
  readonly lingers?: boolean;
}

export type ResumeAnswer =
  | { kind: 'after'; items: Delivery[] }
  /** `lastId`: the channel's last item, which the backend can catch the client up to. */
  | { kind: 'gap'; lastId: string };

/** A subscriber waiting for the handler's answer to its resume. */
interface Resuming {
  topic: string;
  channel: string;
  subscriber: Subscriber;
  /** Live items that arrived meanwhile. */
  queued: Delivery[];
  status: ResumeStatus | undefined;
  items: Delivery[];
  timer: NodeJS.Timeout;
  /** Asked by subscribing its topic (not on the stats socket): unsubscribed at the end. */
  isSubscribed: boolean;
}

/** A held connection that items addressed to it (`$connection:<id>`) reach directly. */
export interface Addressable {
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
/** Items kept for connections not (yet) held here, all ids together. */
const unclaimedMax = 10_000;

/** Bound on waiting for the handler's replay-end (a handler that is down never sends it). */
const replayWaitMs = 2_000;
/** Bound on waiting for a resume answer (the handler may wait 2 s for Redis first). */
const resumeWaitMs = 5_000;

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
  private readonly socket = new UnboundedSubscriber({
    receiveHighWaterMark: 0,
    reconnectInterval: 100,
  });
  private readonly subscribers = new Map<string, Set<Subscriber>>();
  /** This worker's held connections by id, for items addressed to one of them. */
  private readonly connections = new Map<string, Addressable>();
  /** Items addressed to ids no connection here has (yet), oldest id first; see addConnection. */
  private readonly unclaimed = new Map<string, Delivery[]>();
  private unclaimedCount = 0;
  private readonly recent = new Map<string, Delivery[]>();
  /** Channels whose last subscriber (a long-poll) left, and when: unsubscribed after the linger. */
  private readonly lingering = new Map<string, number>();
  /** The highest seq seen per channel: an item at or below it is a replay (remember()). */
  private readonly lastSeq = new Map<string, number>();
  /** Newly subscribed channels whose replay has not ended, and the topics that end them. */
  private readonly awaitingReplay = new Map<string, PendingReplay>();
  private readonly replayEnds = new Map<string, string>();
  /** Names this worker's one-off topics apart from other workers'. */
  private readonly token = randomBytes(6).toString('hex');
  private readonly replayTopicPrefix = `${replayEndPrefix}${this.token}:`;
  private replayCount = 0;
  /** Resumes waiting for their answer, by topic and by channel. */
  private readonly resumes = new Map<string, Resuming>();
  private readonly resumingByChannel = new Map<string, Map<Subscriber, Resuming>>();
  /** Per channel, the last seq each resumed subscriber's answer covered (see isPastResume). */
  private readonly resumedSeqs = new Map<string, Map<Subscriber, number>>();
  private broadcaster: Broadcaster | undefined;
  /** Items written here whose publisher waits for the client's acknowledgement. */
  private readonly acks = new PendingAcks();
  private readonly sweepTimer: NodeJS.Timeout;
  private isClosed = false;
  /** Whether the handler's bus is connected now (ZeroMQ reconnects by itself). */
  isBusConnected = false;

  constructor(
    busSpec: string,
    private readonly log: Logger,
    private readonly stats: WorkerStats,
    /** How long a channel whose last listener was a long-poll stays subscribed (ms). */
    private readonly lingerMs = 0,
    /** Where receipts, listener lists and acks go; without it, asked items are ignored. */
    private readonly answers?: BusAnswers,
  ) {
    this.socket.events.on('connect', () => (this.isBusConnected = true));
    this.socket.events.on('disconnect', () => (this.isBusConnected = false));
    this.socket.connect(busSpec);
    this.socket.subscribe('');
    this.sweepTimer = setInterval(() => this.sweep(), 1_000);
    this.sweepTimer.unref();
    void this.receive();
  }

  /** Channels with a subscriber here (not those only lingering after their last long-poll). */
  get channelCount(): number {
    return this.subscribers.size - this.lingering.size;
  }

  /**
   * Items published to `$connection:<id>` now reach `connection`, and so do those kept from
   * the last seconds that were published after `since` (preciseNow() when its request left):
   * a backend may publish to the id it was just given before its answer reached the proxy.
   */
  addConnection(id: string, connection: Addressable, since: number): void {
    this.connections.set(id, connection);
    const early = this.unclaimed.get(id);
    if (!early) return;
    this.unclaimed.delete(id);
    for (const delivery of early) {
      if (delivery.header.time >= since) this.handToConnection(connection, delivery);
    }
  }

  /** Only when `connection` is the one registered: a retried hold may have replaced it. */
  removeConnection(id: string, connection: Addressable): void {
    if (this.connections.get(id) === connection) this.connections.delete(id);
  }

  /** Subscribers per channel, for the stats report (once a second, not per delivery). */
  listenerCounts(): IterableIterator<[string, Set<Subscriber>]> {
    return this.subscribers.entries();
  }

  /** Set once the worker's uWS app exists (its WebSocket behaviour is registered). */
  useBroadcaster(broadcaster: Broadcaster): void {
    this.broadcaster = broadcaster;
  }

  /**
   * `prevId`: the backend's position on the channel. The subscriber then gets what followed
   * it from the handler's history first (resume()), and live items after those.
   */
  add(channel: string, subscriber: Subscriber, prevId?: string): void {
    let set = this.subscribers.get(channel);
    if (!set) {
      set = new Set();
      this.subscribers.set(channel, set);
      this.socket.subscribe(channel);
      this.awaitReplay(channel);
      this.log.debug({ channel, channels: this.subscribers.size }, 'channel subscribed');
    }
    this.lingering.delete(channel);
    set.add(subscriber);
    if (prevId !== undefined) {
      this.startResume(channel, subscriber, prevId);
      return;
    }
    // Added again without a position (a stream's next link): its `since` decides again.
    this.forgetResumed(channel, subscriber);
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
    const resuming = this.resumingByChannel.get(channel)?.get(subscriber);
    if (resuming) this.forgetResume(resuming);
    this.forgetResumed(channel, subscriber);
    if (set.size > 0) return;
    // A long-poll comes back for the next item at once: staying subscribed spares the bus a
    // subscribe, a replay and an unsubscribe per poll.
    if (subscriber.lingers && this.lingerMs > 0) this.lingering.set(channel, preciseNow());
    else this.unsubscribe(channel);
  }

  private unsubscribe(channel: string): void {
    this.subscribers.delete(channel);
    this.lingering.delete(channel);
    this.forgetReplay(channel);
    if (!this.isClosed) this.socket.unsubscribe(channel);
    this.log.debug({ channel, channels: this.subscribers.size }, 'channel unsubscribed');
  }

  /**
   * A client acknowledged `item` on `connection`. Judged here when the connection is held
   * here; otherwise the handler passes it on to whichever worker or node holds it.
   */
  clientAck(connection: string, item: string | null): void {
    if (item !== null && !this.connections.has(connection)) {
      this.answers?.add({ kind: 'client-ack', connection, item });
      return;
    }
    this.judgeAck(connection, item);
  }

  private judgeAck(connection: string, item: string | null): void {
    const receipt = item === null ? undefined : this.acks.take(connection, item);
    if (receipt === undefined) this.answers?.countUnknownAck();
    else this.answers?.add({ kind: 'ack', receipt });
  }

  close(): void {
    this.isClosed = true;
    this.acks.close();
    clearInterval(this.sweepTimer);
    for (const { timer } of this.awaitingReplay.values()) clearTimeout(timer);
    for (const { timer } of this.resumes.values()) clearTimeout(timer);
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
    // Internal topics (replay ends, resume answers: NUL first) carry no delivery header.
    if (channel.charCodeAt(0) !== 0 && isAsked(frames[1]!)) {
      this.dispatchAsked(frames, channel);
      return;
    }
    const connectionId = addressedConnection(channel);
    if (connectionId !== undefined) {
      this.dispatchToConnection(connectionId, frames, channel);
      return;
    }
    const set = this.subscribers.get(channel);
    if (!set) {
      const replayed = this.replayEnds.get(channel);
      if (replayed !== undefined) this.endReplay(replayed);
      const resuming = this.resumes.get(channel);
      if (resuming) this.onResumeAnswer(resuming, frames);
      return; // otherwise a channel held by another worker, or one we just left
    }
    const delivery = decodeDelivery(frames, channel);
    if (!delivery) {
      this.log.warn({ frames: frames.length }, 'ignored a malformed delivery from the handler');
      return;
    }
    if (!this.remember(delivery)) return;
    if (this.awaitingReplay.has(channel) || set.size === 0) return;
    this.deliverAll(set, delivery);
  }

  /**
   * Every worker hears it; the one holding the connection delivers it. An id no connection
   * here has yet is kept a few seconds (bounded), for a hold whose answer is on its way.
   */
  private dispatchToConnection(id: string, frames: Buffer[], channel: string): void {
    const connection = this.connections.get(id);
    const delivery = decodeDelivery(frames, channel);
    if (!delivery) {
      this.log.warn({ frames: frames.length }, 'ignored a malformed delivery from the handler');
      return;
    }
    if (connection) this.handToConnection(connection, delivery);
    else this.keepUnclaimed(id, delivery);
  }

  /**
   * An item whose publisher asked for a receipt, an acknowledgement or the channel's
   * listeners: delivered as any other, and answered to the handler (src/ipc/bus-answer.ts).
   * Every worker answers, with zeros when it holds nothing of the channel, so that the
   * handler knows when every worker has. Not kept for a connection that is not here: a
   * receipt says whether it is connected now.
   */
  private dispatchAsked(frames: Buffer[], channel: string): void {
    const delivery = decodeDelivery(frames, channel);
    const ask = delivery?.header.ask;
    if (!delivery || !ask) {
      this.log.warn({ frames: frames.length }, 'ignored a malformed delivery from the handler');
      return;
    }
    const connectionId = addressedConnection(channel);
    const { receipt } = ask;
    if (ask.kind === 'client-ack') {
      if (connectionId !== undefined && this.connections.has(connectionId)) {
        this.judgeAck(connectionId, delivery.header.id ?? null);
      }
      return;
    }
    if (ask.kind === 'listeners') {
      const connections: string[] = [];
      for (const subscriber of this.subscribers.get(channel) ?? []) {
        if (subscriber.cid !== undefined) connections.push(subscriber.cid);
      }
      this.answers?.add({ kind: 'listeners', receipt, worker: this.token, connections });
      return;
    }
    let tally: Tally = { listeners: 0, written: 0, dropped: {} };
    if (connectionId !== undefined) {
      const connection = this.connections.get(connectionId);
      if (connection) {
        tally = this.counted(1, () => this.handToConnection(connection, delivery));
        const item = delivery.header.id;
        if (ask.ackMs > 0 && tally.written > 0 && item !== undefined) {
          this.acks.expect(connectionId, item, receipt, ask.ackMs);
        }
      }
    } else {
      const set = this.subscribers.get(channel);
      // A replay of an item answered already is not answered twice.
      if (set && !this.remember(delivery)) return;
      if (set && this.awaitingReplay.has(channel)) return; // answered when the replay ends
      // A channel lingering after its last long-poll has an empty set: zeros.
      if (set && set.size > 0) tally = this.counted(set.size, () => this.deliverAll(set, delivery));
    }
    this.answers?.add({ kind: 'tally', receipt, worker: this.token, ...tally });
  }

  private deliverAll(set: Set<Subscriber>, delivery: Delivery): void {
    const isBroadcast = this.broadcaster?.publish(delivery.channel, delivery) ?? false;
    const before = this.stats.deliveries;
    for (const subscriber of set) this.deliver(subscriber, delivery, isBroadcast);
    this.stats.onHandedOut(delivery.header.time, this.stats.deliveries - before);
  }

  /** What `deliver` wrote and dropped, read off the worker's counters around it. */
  private counted(listeners: number, deliver: () => void): Tally {
    const written = this.stats.deliveries;
    const drops = { ...this.stats.drops };
    deliver();
    const dropped: Record<string, number> = {};
    for (const [reason, count] of Object.entries(this.stats.drops)) {
      const more = count - drops[reason as keyof typeof drops];
      if (more > 0) dropped[reason] = more;
    }
    return { listeners, written: this.stats.deliveries - written, dropped };
  }

  private keepUnclaimed(id: string, delivery: Delivery): void {
    const kept = this.unclaimed.get(id);
    if (kept) kept.push(delivery);
    else this.unclaimed.set(id, [delivery]);
    // Oldest ids go first past the bound: these are for connections that may never come.
    if (++this.unclaimedCount > unclaimedMax) {
      const [oldest, items] = this.unclaimed.entries().next().value!;
      this.unclaimed.delete(oldest);
      this.unclaimedCount -= items.length;
    }
  }

  private handToConnection(connection: Addressable, delivery: Delivery): void {
    const before = this.stats.deliveries;
    this.handTo(connection, delivery, false);
    this.stats.onHandedOut(delivery.header.time, this.stats.deliveries - before);
  }

  private deliver(subscriber: Subscriber, delivery: Delivery, isBroadcast: boolean): void {
    if (this.resumes.size > 0) {
      const resuming = this.resumingByChannel.get(delivery.channel)?.get(subscriber);
      if (resuming) {
        resuming.queued.push(delivery); // after the resumed items, once they are known
        return;
      }
    }
    if (!isFor(subscriber, delivery) && !this.isPastResume(subscriber, delivery)) return;
    this.handTo(subscriber, delivery, isBroadcast);
  }

  /**
   * The item came after the subscriber's resume answer: it follows the position the answer
   * took the subscriber to, whatever its time. With Redis, an item accepted before the
   * request left can still be on its way to this node when the handler answers from
   * history; it then arrives after the answer, older than `since`.
   */
  private isPastResume(subscriber: Subscriber, delivery: Delivery): boolean {
    const seq = this.resumedSeqs.get(delivery.channel)?.get(subscriber);
    return seq !== undefined && delivery.header.seq > seq;
  }

  private forgetResumed(channel: string, subscriber: Subscriber): void {
    const resumed = this.resumedSeqs.get(channel);
    if (resumed?.delete(subscriber) && resumed.size === 0) this.resumedSeqs.delete(channel);
  }

  private handTo(subscriber: Addressable, delivery: Delivery, isBroadcast: boolean): void {
    try {
      subscriber.deliver(delivery, isBroadcast);
    } catch (err) {
      // One failing connection must not stop this worker receiving publishes.
      this.log.error({ err, channel: delivery.channel }, 'delivery to a subscriber failed');
    }
  }

  private startResume(channel: string, subscriber: Subscriber, prevId: string): void {
    const topic = encodeResumeTopic(`${this.token}:${++this.replayCount}`, channel, prevId);
    const resuming: Resuming = {
      topic,
      channel,
      subscriber,
      queued: [],
      status: undefined,
      items: [],
      timer: setTimeout(() => {
        this.log.warn({ channel }, 'no resume answer from the handler; holding without it');
        this.endResume(resuming);
      }, resumeWaitMs),
      // Once the channel's replay has ended, the handler has seen its subscription (and,
      // with Redis, started catching up), so the request need not follow it on the bus:
      // it goes on the stats socket, sparing a topic subscribe and unsubscribe per poll.
      isSubscribed: this.awaitingReplay.has(channel) || this.answers === undefined,
    };
    resuming.timer.unref();
    this.resumes.set(topic, resuming);
    let byChannel = this.resumingByChannel.get(channel);
    if (!byChannel) {
      byChannel = new Map();
      this.resumingByChannel.set(channel, byChannel);
    }
    byChannel.set(subscriber, resuming);
    if (resuming.isSubscribed) this.socket.subscribe(topic);
    else this.answers!.add({ kind: 'resume', topic });
  }

  private onResumeAnswer(resuming: Resuming, frames: Buffer[]): void {
    if (!resuming.status) {
      resuming.status = frames.length === 2 ? decodeResumeStatus(frames[1]!) : undefined;
      if (!resuming.status) {
        this.log.warn({ channel: resuming.channel }, 'ignored a malformed resume answer');
        this.endResume(resuming);
        return;
      }
    } else {
      const delivery = decodeDelivery(frames, resuming.channel);
      if (delivery) resuming.items.push(delivery);
      else resuming.status = { kind: 'unknown' }; // hold without it rather than lose order
    }
    const status = resuming.status;
    if (status.kind !== 'after' || resuming.items.length >= status.count) this.endResume(resuming);
  }

  /** The answer is complete (or will not come): resumed items first, then live ones. */
  private endResume(resuming: Resuming): void {
    this.forgetResume(resuming);
    const { channel, subscriber, status, items, queued } = resuming;
    try {
      if (status?.kind === 'after' || status?.kind === 'gap') {
        // After a gap the client is told that what it missed ends at the channel's last
        // item (seq): what follows that is live, as what follows resumed items is, even an
        // item that reaches this node after the answer (Redis), older than `since`.
        const seen =
          status.kind === 'after'
            ? items.reduce((last, item) => Math.max(last, item.header.seq), status.seq)
            : status.seq;
        if (seen !== undefined) this.markResumed(channel, subscriber, seen);
        subscriber.resume?.(
          channel,
          status.kind === 'after'
            ? { kind: 'after', items }
            : { kind: 'gap', lastId: status.lastId },
        );
        for (const delivery of queued) {
          if (seen !== undefined && delivery.header.seq > seen) {
            this.handTo(subscriber, delivery, false);
          }
        }
        return;
      }
    } catch (err) {
      this.log.error({ err, channel }, 'resuming a subscriber failed');
      return;
    }
    // History knows nothing of the channel: what an ordinary subscriber would have got.
    const bySeq = new Map<number, Delivery>();
    for (const delivery of [...(this.recent.get(channel) ?? []), ...queued]) {
      bySeq.set(delivery.header.seq, delivery);
    }
    for (const seq of [...bySeq.keys()].sort((a, b) => a - b)) {
      this.deliver(subscriber, bySeq.get(seq)!, false);
    }
  }

  /** Items past `seq` follow the subscriber's resumed position, whatever their time. */
  private markResumed(channel: string, subscriber: Subscriber, seq: number): void {
    // Before resume(): a subscriber it finishes is removed, and its entry with it.
    let resumed = this.resumedSeqs.get(channel);
    if (!resumed) {
      resumed = new Map();
      this.resumedSeqs.set(channel, resumed);
    }
    resumed.set(subscriber, seq);
  }

  private forgetResume(resuming: Resuming): void {
    clearTimeout(resuming.timer);
    if (!this.resumes.delete(resuming.topic)) return;
    const byChannel = this.resumingByChannel.get(resuming.channel);
    byChannel?.delete(resuming.subscriber);
    if (byChannel?.size === 0) this.resumingByChannel.delete(resuming.channel);
    if (resuming.isSubscribed && !this.isClosed) this.socket.unsubscribe(resuming.topic);
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
      const ask = delivery.header.ask;
      const deliver = (): void => {
        for (const subscriber of set) this.deliver(subscriber, delivery, false);
      };
      if (ask?.kind !== 'receipt') {
        deliver();
        continue;
      }
      // An item answered already by this worker is ignored by the handler the second time.
      const tally = this.counted(set.size, deliver);
      this.answers?.add({ kind: 'tally', receipt: ask.receipt, worker: this.token, ...tally });
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

  /**
   * Keeps the item for late subscribers; false when it was seen already (a replay). Live
   * items of a channel arrive in seq order; one at or below the last seq seen is a replay
   * another worker's subscription caused, which this worker handled when it was live, even
   * once it has left the recent items (a replay that arrives late on a busy machine, which
   * the soak saw as duplicates). Only a channel awaiting its own replay takes older items.
   */
  private remember(delivery: Delivery): boolean {
    const seq = delivery.header.seq;
    const last = this.lastSeq.get(delivery.channel);
    if (last === undefined || seq > last) this.lastSeq.set(delivery.channel, seq);
    else if (!this.awaitingReplay.has(delivery.channel)) return false;
    let list = this.recent.get(delivery.channel);
    if (!list) {
      list = [];
      this.recent.set(delivery.channel, list);
    }
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
    for (const [id, items] of this.unclaimed) {
      if (items[items.length - 1]!.header.time >= cutoff) continue;
      this.unclaimed.delete(id);
      this.unclaimedCount -= items.length;
    }
    const lingerCutoff = preciseNow() - this.lingerMs;
    for (const [channel, since] of this.lingering) {
      if (since <= lingerCutoff) this.unsubscribe(channel);
    }
    for (const [channel, list] of this.recent) {
      let drop = 0;
      while (drop < list.length && list[drop]!.header.time < cutoff) drop++;
      if (drop === list.length) this.recent.delete(channel);
      else if (drop > 0) list.splice(0, drop);
    }
    // A channel's last seq is kept while it is listened to here or has recent items.
    for (const channel of this.lastSeq.keys()) {
      if (!this.recent.has(channel) && !this.subscribers.has(channel)) {
        this.lastSeq.delete(channel);
      }
    }
  }
}
