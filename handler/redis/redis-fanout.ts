import { randomBytes } from 'node:crypto';
import type { Cluster, Redis } from 'ioredis';
import { RedisUnavailableError } from '../../src/errors.js';
import type { PublishItem } from '../../src/grip/publish-types.js';
import {
  comparePositions,
  decodeRedisMessage,
  decodeRedisPayload,
  decodeStreamEntry,
  encodeRedisPayload,
  type RedisEntry,
} from '../../src/ipc/redis-entry.js';
import type { DeliveryAsk } from '../../src/ipc/delivery.js';
import { decodeNodeReply, encodeNodeReply, type NodeReply } from '../../src/ipc/node-reply.js';
import type { Logger } from '../../src/log.js';
import { addressedConnection } from '../../src/grip/channel-name.js';
import { connectRedis, describeRedis, type RedisClient } from '../../src/redis-connection.js';
import type { RedisSettings } from '../../src/redis-mode.js';
import { RedisClock } from './redis-clock.js';

/*
 * Many nodes through one Redis. Every node publishes into Redis and takes every item back
 * from it, its own included, so Redis is the one ordering point and every node delivers a
 * channel's items in the same order. A publish is one script run: drop a repeated id, add
 * the item to the channel's stream (its entry id is the item's position), and publish it
 * on the channel's pub/sub channel. Keys and pub/sub channel share the hash tag `{channel}`,
 * so in a cluster they live on one shard and sharded pub/sub (SPUBLISH) applies.
 *
 * A node subscribes only the channels its workers hold. Subscribing cannot see what was
 * published just before (the subscribe race, across nodes), so after each subscription
 * the node reads the channel's stream (its history, for resumes; the last seconds of it
 * also go to the workers, who keep what is newer than their requests), and after a Redis
 * outage it reads everything after the last position it saw: nothing stored while it was
 * away is lost. Live messages that arrive during such a read wait behind it, and positions drop
 * what was seen already.
 */

export interface RedisFanoutOptions {
  settings: RedisSettings;
  logger: Logger;
  /**
   * Each item Redis sends this node, in channel order: its time on this host's clock, its
   * position, and, for an item read back from the stream, its age (items read back when
   * subscribing may predate every hold here). A live item's age is 0: however late its
   * pub/sub message, a hold here may be waiting for it.
   */
  onItem(
    item: PublishItem,
    localTime: number,
    position: string,
    ageMs: number,
    ask?: DeliveryAsk,
  ): void;
  /**
   * An item addressed to one connection (`$connection:<id>`), published by any node. Not
   * stored: it is for a connection held now, and every node hears it. Also a question every
   * node answers (`ask`: a channel's listeners, a client's ack passed on).
   */
  onDirectItem(item: PublishItem, ask?: DeliveryAsk): void;
  /** A node's answer to a receipt, ack or question this node asked (its reply channel). */
  onReply?(reply: NodeReply): void;
  /** The last position this node keeps of the channel, to read its stream after. */
  lastPosition(channel: string): string | undefined;
  /** Items kept per channel stream (approximately: Redis trims whole nodes). */
  historySize?: number;
  /** A channel's stream expires this long after its last publish. */
  historyTtlMs?: number;
  /** A repeated item id on a channel is dropped within this window (Pushpin's id cache). */
  idTtlMs?: number;
}

interface ChannelState {
  /** Position of the last item handed on. */
  last: string | undefined;
  /** A catch-up read is running: live items wait in `waiting`. */
  isCatchingUp: boolean;
  waiting: RedisEntry[];
  /** Called once the catch-up is over (resume answers wait for it). */
  caughtUp: (() => void)[];
}

const keyPrefix = 'thumbtack:';
const catchUpCount = 10_000;
/** A resume waits this long at most for a catch-up (Redis may be down). */
const caughtUpWaitMs = 2_000;

const publishScript = `
if ARGV[1] == '1' then
  if not redis.call('SET', KEYS[2], '1', 'NX', 'PX', ARGV[2]) then return false end
end
local now = redis.call('TIME')
local micros = now[1] .. string.format('%06d', now[2])
local id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[3], '*', 't', micros, 'd', ARGV[5])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
local nodes = redis.call(ARGV[6], ARGV[7], id .. ' ' .. micros .. ' ' .. ARGV[5])
return {id, nodes}
`;

type ScriptClient = RedisClient & {
  /** The position and how many nodes' subscriptions got the item; null: a repeated id. */
  thumbtackPublish(...args: (string | Buffer | number)[]): Promise<[string, number] | null>;
};

function streamKey(channel: string): string {
  return `${keyPrefix}{${channel}}:s`;
}

/** Every node listens here for items addressed to one connection (one name: one shard). */
const directName = `${keyPrefix}{$connection}`;

/** Where nodes answer the receipts, acks and questions of node `node`. */
function replyName(node: string): string {
  return `${keyPrefix}{$reply}:${node}`;
}

function pubsubName(channel: string): string {
  return `${keyPrefix}{${channel}}`;
}

export class RedisFanout {
  private readonly channels = new Map<string, ChannelState>();
  private readonly toSubscribe = new Set<string>();
  private readonly toUnsubscribe = new Set<string>();
  private isFlushScheduled = false;
  private isClosed = false;
  private isDown = false;
  private readonly clock: RedisClock;
  private readonly isCluster: boolean;
  /** --history-size and --history-ttl for the streams' MAXLEN and expiry (a reload sets them). */
  historySize: number;
  historyTtlMs: number;
  private readonly idTtlMs: number;
  /** Resume waiters for channels whose subscription is still in the batch. */
  private readonly subscribing = new Map<string, (() => void)[]>();
  /** Names this node in receipts and replies: other nodes answer it here. */
  readonly node = randomBytes(8).toString('hex');
  private readonly replyChannel = replyName(this.node);

  private constructor(
    private readonly options: RedisFanoutOptions,
    private readonly commands: ScriptClient,
    private readonly subscriber: RedisClient,
  ) {
    this.isCluster = options.settings.redisCluster !== '';
    this.historySize = options.historySize ?? 100;
    this.historyTtlMs = options.historyTtlMs ?? 300_000;
    this.idTtlMs = options.idTtlMs ?? 60_000;
    this.clock = new RedisClock(() =>
      this.isCluster ? (commands as Cluster).nodes('master') : [commands],
    );
  }

  /** Connects both clients; throws ConfigError naming the setting when Redis cannot be used. */
  static async start(options: RedisFanoutOptions): Promise<RedisFanout> {
    const commands = (await connectRedis(options.settings, 'commands')) as ScriptClient;
    let subscriber: RedisClient;
    try {
      subscriber = await connectRedis(options.settings, 'subscriber');
    } catch (err) {
      commands.disconnect();
      throw err;
    }
    commands.defineCommand('thumbtackPublish', { numberOfKeys: 2, lua: publishScript });
    const fanout = new RedisFanout(options, commands, subscriber);
    await fanout.clock.start();
    fanout.watch();
    await fanout.subscribeDirect();
    return fanout;
  }

  /** Whether both connections are up: publishes are taken and items arrive. */
  get isConnected(): boolean {
    return !this.isDown && this.commands.status === 'ready' && this.subscriber.status === 'ready';
  }

  get mode(): 'redis' | 'redis-cluster' {
    return this.isCluster ? 'redis-cluster' : 'redis';
  }

  /**
   * Resolves once Redis took an item addressed to one connection (or a question for every
   * node), to how many nodes got it. Every node gets it; the one holding the connection
   * delivers it.
   */
  async publishDirect(item: PublishItem, ask?: DeliveryAsk): Promise<number> {
    try {
      const payload = encodeRedisPayload(item, ask);
      if (this.isCluster) {
        return (await (this.commands as Cluster).spublish(directName, payload)) as number;
      }
      return await (this.commands as Redis).publish(directName, payload);
    } catch (err) {
      throw this.notTaken(err);
    }
  }

  /** Tells node `node` about its receipt; lost when Redis is away (its receipt times out). */
  reply(node: string, reply: NodeReply): void {
    const name = replyName(node);
    const message = encodeNodeReply(reply);
    const sent = this.isCluster
      ? (this.commands as Cluster).spublish(name, message)
      : (this.commands as Redis).publish(name, message);
    sent.catch((err: unknown) => {
      this.options.logger.debug({ err: (err as Error).message }, 'Redis reply not sent');
    });
  }

  /**
   * Resolves once Redis stored the item (or dropped it as a repeated id), to how many nodes
   * listening on its channel got it (0 for a repeated id).
   */
  async publish(item: PublishItem, ask?: DeliveryAsk): Promise<number> {
    const hasId = item.id !== undefined;
    const stream = streamKey(item.channel);
    try {
      const stored = await this.commands.thumbtackPublish(
        stream,
        hasId ? `${keyPrefix}{${item.channel}}:i:${item.id}` : stream,
        hasId ? '1' : '0',
        this.idTtlMs,
        this.historySize,
        this.historyTtlMs,
        encodeRedisPayload(item, ask),
        this.isCluster ? 'SPUBLISH' : 'PUBLISH',
        pubsubName(item.channel),
      );
      return stored ? Number(stored[1]) : 0;
    } catch (err) {
      throw this.notTaken(err);
    }
  }

  /** This node's workers hold the channel now; batched with the rest of this turn. */
  subscribe(channel: string): void {
    if (this.toUnsubscribe.delete(channel)) return;
    this.toSubscribe.add(channel);
    this.scheduleFlush();
  }

  /** This node's workers no longer hold the channel. */
  unsubscribe(channel: string): void {
    if (this.toSubscribe.delete(channel)) return;
    this.toUnsubscribe.add(channel);
    this.scheduleFlush();
  }

  /**
   * Resolves once the channel's stream has been read after its subscription, so that this
   * node's history of it is complete (at once when it is not being subscribed; bounded).
   */
  caughtUp(channel: string): Promise<void> {
    const state = this.channels.get(channel);
    let waiters: (() => void)[] | undefined;
    if (state?.isCatchingUp) waiters = state.caughtUp;
    else if (!state && this.toSubscribe.has(channel)) {
      waiters = this.subscribing.get(channel) ?? [];
      this.subscribing.set(channel, waiters);
    }
    if (!waiters) return Promise.resolve();
    const list = waiters;
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, caughtUpWaitMs);
      list.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  async close(): Promise<void> {
    this.isClosed = true;
    this.clock.stop();
    await Promise.allSettled([this.commands.quit(), this.subscriber.quit()]);
    this.commands.disconnect();
    this.subscriber.disconnect();
  }

  private watch(): void {
    const onMessage = (name: Buffer, message: Buffer): void => this.onMessage(name, message);
    if (this.isCluster) this.subscriber.on('smessageBuffer', onMessage);
    else this.subscriber.on('messageBuffer', onMessage);
    for (const client of [this.commands, this.subscriber]) {
      client.on('error', (err: Error) => this.onDown(err));
      client.on('close', () => this.onDown());
      client.on('ready', () => this.onReady());
    }
  }

  private onDown(err?: Error): void {
    if (this.isClosed || this.isDown) return;
    this.isDown = true;
    this.options.logger.error(
      { err: err?.message, redis: describeRedis(this.options.settings) },
      'Redis unreachable: publishes are refused with 503 until it is back; held connections carry on',
    );
  }

  private onReady(): void {
    if (this.isClosed || !this.isDown) return;
    if (this.commands.status !== 'ready' || this.subscriber.status !== 'ready') return;
    this.isDown = false;
    this.options.logger.info(
      { redis: describeRedis(this.options.settings), channels: this.channels.size },
      'Redis reachable again: resubscribing and catching up',
    );
    // Standalone subscriptions are ours to renew (autoResubscribe is off, so that the
    // catch-up starts only once the subscription is back); a cluster renews its own.
    const channels = [...this.channels.keys()];
    for (const channel of channels) this.channels.get(channel)!.isCatchingUp = true;
    void this.subscribeAndCatchUp(channels, !this.isCluster, true);
    if (!this.isCluster) {
      this.subscribeDirect().catch((err: unknown) => {
        this.options.logger.debug({ err: (err as Error).message }, 'Redis subscribe failed');
      });
    }
  }

  private scheduleFlush(): void {
    if (this.isFlushScheduled) return;
    this.isFlushScheduled = true;
    setImmediate(() => {
      this.isFlushScheduled = false;
      this.flush();
    });
  }

  private flush(): void {
    if (this.isClosed) return;
    const added = [...this.toSubscribe];
    const removed = [...this.toUnsubscribe];
    this.toSubscribe.clear();
    this.toUnsubscribe.clear();
    for (const channel of removed) {
      const state = this.channels.get(channel);
      if (!state) continue;
      this.channels.delete(channel);
      for (const resolve of state.caughtUp) resolve();
    }
    if (removed.length > 0) void this.unsubscribeNames(removed);
    const fresh = added.filter((channel) => !this.channels.has(channel));
    for (const channel of fresh) {
      const caughtUp = this.subscribing.get(channel) ?? [];
      this.subscribing.delete(channel);
      const last = this.options.lastPosition(channel);
      this.channels.set(channel, { last, isCatchingUp: true, waiting: [], caughtUp });
    }
    for (const [channel, waiters] of this.subscribing) {
      this.subscribing.delete(channel);
      for (const resolve of waiters) resolve();
    }
    if (fresh.length > 0) void this.subscribeAndCatchUp(fresh, true, false);
  }

  private notTaken(err: unknown): RedisUnavailableError {
    return new RedisUnavailableError(
      `Redis did not take the publish (${describeRedis(this.options.settings)}): ${(err as Error).message}; retry later`,
    );
  }

  private async subscribeDirect(): Promise<void> {
    if (this.isCluster) {
      await (this.subscriber as Cluster).ssubscribe(directName);
      await (this.subscriber as Cluster).ssubscribe(this.replyChannel);
    } else await (this.subscriber as Redis).subscribe(directName, this.replyChannel);
  }

  private async unsubscribeNames(channels: string[]): Promise<void> {
    try {
      await this.setSubscribed(channels, false);
    } catch {
      // Down: the subscription ends with the connection, and it is not renewed.
    }
  }

  /** Sharded pub/sub in a cluster (a channel lives on its slot's shard), classic otherwise. */
  private async setSubscribed(channels: string[], isOn: boolean): Promise<void> {
    const names = channels.map(pubsubName);
    if (this.isCluster) {
      const cluster = this.subscriber as Cluster;
      await Promise.all(
        names.map((name) => (isOn ? cluster.ssubscribe(name) : cluster.sunsubscribe(name))),
      );
      return;
    }
    const redis = this.subscriber as Redis;
    await (isOn ? redis.subscribe(...names) : redis.unsubscribe(...names));
  }

  private async subscribeAndCatchUp(
    channels: string[],
    shouldSubscribe: boolean,
    isRecovering: boolean,
  ): Promise<void> {
    if (shouldSubscribe) {
      try {
        await this.setSubscribed(channels, true);
      } catch (err) {
        // Redis is down: onReady subscribes these again and catches up.
        this.options.logger.debug({ err: (err as Error).message }, 'Redis subscribe failed');
        return;
      }
    }
    await Promise.all(channels.map((channel) => this.catchUp(channel, isRecovering)));
  }

  /**
   * Reads what the channel's stream holds past what was seen, then lets live items go.
   * `isRecovering`: this node lost Redis while the channel was subscribed, so what it reads
   * was missed live and goes to the holds (each by its own time), not only to history,
   * however old.
   */
  private async catchUp(channel: string, isRecovering: boolean): Promise<void> {
    const state = this.channels.get(channel);
    if (!state || this.isClosed) return;
    // The whole stream the first time (history for resumes), then what followed.
    const start = state.last !== undefined ? `(${state.last}` : '-';
    let reply: [Buffer, Buffer[]][];
    try {
      reply = (await this.commands.xrangeBuffer(
        streamKey(channel),
        start,
        '+',
        'COUNT',
        catchUpCount,
      )) as unknown as [Buffer, Buffer[]][];
    } catch (err) {
      // Down: onReady catches up again once Redis is back; live items keep waiting.
      this.options.logger.debug({ err: (err as Error).message, channel }, 'Redis catch-up failed');
      return;
    }
    if (this.channels.get(channel) !== state) return; // left meanwhile
    for (const [id, fields] of reply) {
      const entry = decodeStreamEntry(id, fields, channel);
      if (entry) this.handOn(state, entry, isRecovering);
    }
    state.isCatchingUp = false;
    const waiting = state.waiting;
    state.waiting = [];
    for (const entry of waiting) this.handOn(state, entry, true);
    const caughtUp = state.caughtUp;
    state.caughtUp = [];
    for (const resolve of caughtUp) resolve();
  }

  private onMessage(name: Buffer, message: Buffer): void {
    const text = name.toString('utf8');
    if (text === directName) {
      this.onDirectMessage(message);
      return;
    }
    if (text === this.replyChannel) {
      const reply = decodeNodeReply(message);
      if (reply) this.options.onReply?.(reply);
      else this.options.logger.warn('ignored a message on this node’s reply channel');
      return;
    }
    if (!text.startsWith(keyPrefix + '{') || !text.endsWith('}')) return;
    const channel = text.slice(keyPrefix.length + 1, -1);
    const state = this.channels.get(channel);
    if (!state) return;
    const entry = decodeRedisMessage(message, channel);
    if (!entry) {
      this.options.logger.warn(
        { channel },
        'ignored a message on a thumbtack Redis channel that is not an item',
      );
      return;
    }
    if (state.isCatchingUp) state.waiting.push(entry);
    else this.handOn(state, entry, true);
  }

  private onDirectMessage(message: Buffer): void {
    const decoded = decodeRedisPayload(message);
    const isQuestion = decoded?.ask?.kind === 'listeners';
    if (!decoded || (!isQuestion && addressedConnection(decoded.item.channel) === undefined)) {
      this.options.logger.warn(
        { channel: directName },
        'ignored a message on the thumbtack direct channel that is not an item',
      );
      return;
    }
    try {
      this.options.onDirectItem(decoded.item, decoded.ask);
    } catch (err) {
      this.options.logger.error({ err }, 'handing on an item addressed to one connection failed');
    }
  }

  private handOn(state: ChannelState, entry: RedisEntry, isLive: boolean): void {
    if (state.last !== undefined && comparePositions(entry.position, state.last) <= 0) return;
    state.last = entry.position;
    const ageMs = isLive ? 0 : Math.max(0, this.clock.redisNowMs() - entry.timeMicros / 1000);
    try {
      const time = this.clock.toLocal(entry.timeMicros);
      this.options.onItem(entry.item, time, entry.position, ageMs, entry.ask);
    } catch (err) {
      this.options.logger.error(
        { err, channel: entry.item.channel },
        'delivering a Redis item failed',
      );
    }
  }
}
