import { EventEmitter } from 'node:events';
import { setImmediate as endOfTurn } from 'node:timers/promises';
import * as zmq from 'zeromq';
import type { PublishItem } from '../src/grip/publish-types.js';
import {
  decodeResumeTopic,
  encodeBusMessage,
  encodeDelivery,
  encodeReplayEnd,
  encodeResumeAnswer,
  replayEndPrefix,
  resumePrefix,
  type DeliveryAsk,
  type ResumeStatus,
} from '../src/ipc/delivery.js';
import type { Logger } from '../src/log.js';
import { positionSeq } from '../src/ipc/redis-entry.js';
import { History } from './history.js';

/*
 * The internal bus: an XPUB the proxy workers' SUB sockets connect to. Workers subscribe
 * each channel they hold, and with verbosity 'allSubsUnsubs' every (un)subscribe reaches
 * us, so we count listeners per channel. Workers subscribe a channel once each and
 * unsubscribe it once, and libzmq reports a departed worker's subscriptions as
 * unsubscribes, which keeps the counts right.
 *
 * Deliveries themselves travel batched (src/ipc/delivery.ts encodeBusMessage): whatever
 * queued while the previous send was in flight leaves as one message, which every worker
 * receives through its empty-topic subscription, so the per-message cost of ZeroMQ on both
 * sides is paid per batch, not per item.
 */

export interface BusEvents {
  /** A channel got its first listener. */
  channelActive: [channel: string];
  /** A channel lost its last listener. */
  channelIdle: [channel: string];
}

export interface BusOptions {
  endpoint: string;
  logger: Logger;
  history?: History;
  /** Deliveries queued for sending beyond this are dropped with a warning. */
  queueMax?: number;
  /**
   * Resolves once this node's history of the channel is complete (with Redis: once the
   * channel's stream has been read after subscribing); resume answers wait for it.
   */
  whenCaughtUp?: (channel: string) => Promise<void>;
}

const SUBSCRIBE = 1;
const UNSUBSCRIBE = 0;
const PRUNE_INTERVAL_MS = 1000;
const DRAIN_ON_CLOSE_MS = 1000;
/** Deliveries per bus message, so one message never holds up a worker for long. */
const BATCH_MAX = 1000;
/** Workers' subscription to every bus message; not a channel (channels are non-empty). */
const ALL_TOPIC = '';

export class Bus extends EventEmitter<BusEvents> {
  private readonly endpoint: string;
  private readonly logger: Logger;
  private readonly history: History;
  private readonly queueMax: number;
  private readonly whenCaughtUp: (channel: string) => Promise<void>;
  private readonly socket: zmq.XPublisher;
  private readonly listenerCounts = new Map<string, number>();
  /** Proxy workers connected: each subscribes ALL_TOPIC once, libzmq unsubscribes on leaving. */
  private workers = 0;
  /** Microseconds at start, so seq keeps increasing across restarts. */
  private seq = Date.now() * 1000;
  private queue: Buffer[][] = [];
  /** Bus messages ever queued and ever handed to the socket, for whenSent(). */
  private queuedCount = 0;
  private sentCount = 0;
  /** whenSent() callers, in the order of the counts they wait for. */
  private readonly sentWaiters: { count: number; resolve: () => void }[] = [];
  private isSending = false;
  private isClosed = false;
  private readonly drained = new Set<() => void>();
  private pruneTimer: NodeJS.Timeout | undefined;
  private receiving: Promise<void> | undefined;
  private boundAddress = '';

  constructor(options: BusOptions) {
    super();
    this.endpoint = options.endpoint;
    this.logger = options.logger;
    this.history = options.history ?? new History();
    this.queueMax = options.queueMax ?? 100_000;
    this.whenCaughtUp = options.whenCaughtUp ?? (() => Promise.resolve());
    this.socket = new zmq.XPublisher({
      linger: 0,
      // A burst of publishes must not be cut at libzmq's default of 1000 per worker.
      sendHighWaterMark: 100_000,
      // Workers' (un)subscriptions, two per resume, reach us as messages, and libzmq drops
      // a subscription silently when that pipe is full: 0 leaves it unbounded both ways.
      receiveHighWaterMark: 0,
    });
    this.socket.verbosity = 'allSubsUnsubs';
  }

  async start(): Promise<void> {
    await this.socket.bind(this.endpoint);
    this.boundAddress = this.socket.lastEndpoint ?? this.endpoint;
    this.receiving = this.receive();
    this.pruneTimer = setInterval(() => this.history.prune(), PRUNE_INTERVAL_MS);
    this.pruneTimer.unref();
  }

  get address(): string {
    return this.boundAddress;
  }

  /** Proxy workers connected to the bus now. */
  /** Channels with a listener on any worker. */
  get channelCount(): number {
    return this.listenerCounts.size;
  }

  get workerCount(): number {
    return this.workers;
  }

  hasSubscribers(channel: string): boolean {
    return this.listenerCounts.has(channel);
  }

  /**
   * Sends one released item to the workers and keeps it for late subscribers and resumes.
   * `position`: its place in Redis (many nodes), which keeps it from being kept twice.
   * `ask`: the publisher's receipt request, which every worker answers.
   */
  deliver(item: PublishItem, time: number, position?: string, ask?: DeliveryAsk): void {
    const frames = this.keep(item, time, position, undefined, ask);
    if (frames) this.enqueue(frames);
  }

  /**
   * Sends an item addressed to one connection (`$connection:<id>`) to every worker, the one
   * holding it takes it. Not kept: it is for a connection that is there now, not a resume.
   */
  deliverDirect(item: PublishItem, time: number, ask?: DeliveryAsk): void {
    this.enqueue(encodeDelivery(item, ++this.seq, time, ask));
  }

  /** Asks every worker for the connections listening on `channel` (deliver-to-one). */
  askListeners(channel: string, ask: DeliveryAsk): void {
    const question: PublishItem = { channel, noSeq: true, formats: {} };
    this.enqueue(encodeDelivery(question, ++this.seq, Date.now(), ask));
  }

  /**
   * Keeps an item published before this node listened (read back from Redis) for resumes,
   * without sending it: it is older than any hold here. `addedAt`: when it was published,
   * in Date.now() terms, so that it ages out on time.
   */
  remember(item: PublishItem, time: number, position: string, addedAt: number): void {
    this.keep(item, time, position, addedAt);
  }

  /** Encodes the item and adds it to history; undefined when history had it already. */
  private keep(
    item: PublishItem,
    time: number,
    position: string | undefined,
    addedAt?: number,
    ask?: DeliveryAsk,
  ): Buffer[] | undefined {
    const seq = this.nextSeq(item.channel, position);
    const frames = encodeDelivery(item, seq, time, ask);
    const info = { seq, id: item.id, prevId: item.prevId, position };
    return this.history.add(item.channel, frames, info, addedAt) ? frames : undefined;
  }

  /** From the Redis position when there is one: the same item keeps its seq across restarts. */
  private nextSeq(channel: string, position: string | undefined): number {
    if (position === undefined) return ++this.seq;
    const seq = positionSeq(position);
    const last = this.history.lastSeq(channel);
    return last !== undefined && seq <= last ? last + 1 : seq;
  }

  async close(): Promise<void> {
    if (this.isClosed) return;
    if (this.pruneTimer) clearInterval(this.pruneTimer);
    await this.drain(DRAIN_ON_CLOSE_MS);
    this.isClosed = true;
    this.socket.close();
    await this.receiving;
    this.history.clear();
  }

  private async receive(): Promise<void> {
    try {
      for await (const [message] of this.socket) {
        if (!message || message.length === 0) continue;
        const channel = message.toString('utf8', 1);
        if (channel === ALL_TOPIC) {
          this.workers += message[0] === SUBSCRIBE ? 1 : -1;
          continue;
        }
        if (channel.startsWith(resumePrefix)) {
          if (message[0] === SUBSCRIBE) void this.answerResume(channel);
          continue;
        }
        if (channel.startsWith(replayEndPrefix)) {
          // Queued behind the replay its worker's channel subscription just caused.
          if (message[0] === SUBSCRIBE) this.enqueue(encodeReplayEnd(channel));
          continue;
        }
        if (message[0] === SUBSCRIBE) this.onSubscribe(channel);
        else if (message[0] === UNSUBSCRIBE) this.onUnsubscribe(channel);
      }
    } catch (err) {
      if (!this.isClosed) this.logger.error({ err }, 'bus stopped receiving subscriptions');
    }
  }

  private onSubscribe(channel: string): void {
    const count = (this.listenerCounts.get(channel) ?? 0) + 1;
    this.listenerCounts.set(channel, count);
    // `event` is a stable field for tooling and tests (README, logging); the text is for people.
    this.logger.debug({ event: 'channel.subscribed', channel, listeners: count }, 'bus subscribe');
    // Re-send what was published just before this subscription reached us.
    const recent = this.history.recent(channel);
    for (const frames of recent) this.enqueue(frames);
    if (count === 1) this.emitSafely('channelActive', channel);
  }

  private onUnsubscribe(channel: string): void {
    const count = this.listenerCounts.get(channel);
    if (count === undefined) return;
    this.logger.debug(
      { event: 'channel.unsubscribed', channel, listeners: count - 1 },
      'bus unsubscribe',
    );
    if (count > 1) {
      this.listenerCounts.set(channel, count - 1);
      return;
    }
    this.listenerCounts.delete(channel);
    this.emitSafely('channelIdle', channel);
  }

  /** A resume request a worker sent on the stats socket rather than as a bus subscription. */
  resume(topic: string): void {
    void this.answerResume(topic);
  }

  /** Tells the worker that asked what followed its hold's prev-id (src/ipc/delivery.ts). */
  private async answerResume(topic: string): Promise<void> {
    const asked = decodeResumeTopic(topic);
    if (!asked) {
      this.logger.warn('ignored a malformed resume request from a worker');
      return;
    }
    try {
      await this.whenCaughtUp(asked.channel);
    } catch {
      // Redis is down: answer from what this node has.
    }
    const answer = this.history.resume(asked.channel, asked.prevId);
    let status: ResumeStatus;
    let frames: Buffer[][] = [];
    if (answer.kind === 'after') {
      status = { kind: 'after', count: answer.frames.length, seq: answer.seq };
      frames = answer.frames;
    } else {
      status = answer;
    }
    this.logger.debug(
      { event: 'channel.resumed', channel: asked.channel, prevId: asked.prevId, ...status },
      'resume answered',
    );
    for (const delivery of encodeResumeAnswer(topic, status, frames)) this.enqueue(delivery);
  }

  private emitSafely(event: keyof BusEvents, channel: string): void {
    try {
      this.emit(event, channel);
    } catch (err) {
      this.logger.error({ err, channel }, `bus ${event} listener failed`);
    }
  }

  /** Resolves once everything queued so far has been handed to the bus socket (or dropped). */
  whenSent(): Promise<void> {
    if (this.sentCount >= this.queuedCount || this.isClosed) return Promise.resolve();
    const count = this.queuedCount;
    return new Promise((resolve) => this.sentWaiters.push({ count, resolve }));
  }

  private wakeSent(): void {
    while (this.sentWaiters.length > 0 && this.sentWaiters[0]!.count <= this.sentCount) {
      this.sentWaiters.shift()!.resolve();
    }
  }

  // zeromq allows one send in flight per socket, so sends go through one queue, and
  // each send waits for the end of the turn so that it carries everything released in it.
  private enqueue(frames: Buffer[]): void {
    if (this.isClosed) return;
    if (this.queue.length >= this.queueMax) {
      this.logger.warn({ queued: this.queueMax }, 'bus send queue full, dropping delivery');
      return;
    }
    this.queue.push(frames);
    this.queuedCount++;
    if (!this.isSending) void this.pump();
  }

  private async pump(): Promise<void> {
    this.isSending = true;
    while (this.queue.length > 0 && !this.isClosed) {
      // Items are released from promise continuations, which a send's own continuation
      // would interleave with: waiting here batches a whole turn rather than one item.
      await endOfTurn();
      if (this.isClosed) break;
      let batch = this.queue;
      if (batch.length > BATCH_MAX) batch = this.queue.splice(0, BATCH_MAX);
      else this.queue = [];
      try {
        await this.socket.send(encodeBusMessage(batch));
      } catch (err) {
        if (this.isClosed) break;
        this.logger.error({ err }, 'bus send failed');
      }
      this.sentCount += batch.length;
      this.wakeSent();
    }
    // Closed: what is left in the queue is dropped, and nobody waits for it any longer.
    this.sentCount = this.queuedCount;
    this.wakeSent();
    this.queue = [];
    this.isSending = false;
    for (const resolve of this.drained) resolve();
    this.drained.clear();
  }

  private drain(timeoutMs: number): Promise<void> {
    if (!this.isSending) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(done, timeoutMs);
      const drainedSet = this.drained;
      function done(): void {
        clearTimeout(timer);
        drainedSet.delete(done);
        resolve();
      }
      drainedSet.add(done);
    });
  }
}
