import { addressedConnection, connectionChannelPrefix } from '../../src/grip/channel-name.js';
import type { PublishItem } from '../../src/grip/publish-types.js';
import type { BusAnswer } from '../../src/ipc/bus-answer.js';
import type { AskKind, DeliveryAsk } from '../../src/ipc/delivery.js';
import type { NodeReply } from '../../src/ipc/node-reply.js';
import type { Logger } from '../../src/log.js';
import type { RedisFanout } from '../redis/redis-fanout.js';
import { Gatherings, type Gathered, type Gathering } from './gatherings.js';

/** What a publisher asked for beyond a plain publish (handler/inputs/publish-options.ts). */
export interface PublishAsk {
  /** Count, per item, the connections it was written to and why not. */
  hasReceipt: boolean;
  /** How long the answers are awaited. */
  waitMs: number;
  /** How long the client's acknowledgement is awaited; 0: not asked. */
  ackMs: number;
  /** Deliver each item to one of its channel's listeners, in turn. */
  isOne: boolean;
}

/** The answer about one item (README, Direct push and receipts, has its JSON). */
export interface ItemReceipt {
  channel: string;
  /** Deliver-to-one: the connection picked; null when the channel had no listener. */
  connection?: string | null;
  listeners: number;
  written: number;
  dropped: Record<string, number>;
  workers: { answered: number; asked: number };
  /** Many nodes: the nodes that got the item and those that answered in time. */
  nodes?: { answered: number; asked: number };
  acknowledged?: boolean;
}

export type AckOutcome = 'acknowledged' | 'late' | 'unknown';

export interface AskedPublishesOptions {
  logger: Logger;
  workerCount(): number;
  /** Without Redis: the item goes through sequencing to the bus, carrying its ask. */
  sendLocal(item: PublishItem, ask: DeliveryAsk): void;
  askLocal(channel: string, ask: DeliveryAsk): void;
  redis?: RedisFanout;
  countAck(outcome: AckOutcome, count: number): void;
}

/** Channels whose deliver-to-one turn is remembered; the oldest is forgotten past it. */
const rotationsMax = 10_000;

/**
 * Receipts, acknowledged push and deliver-to-one. The item goes out carrying an ask
 * (src/ipc/delivery.ts); every worker answers it (src/ipc/bus-answer.ts) and the gathering
 * completes when all have, or when the wait is over. With Redis the ask names this node:
 * each node that gets the item asks its own workers and replies on this node's Redis reply
 * channel, and Redis said at publish time how many nodes got it.
 */
export class AskedPublishes {
  /** This node's workers' answers, to its own asks and to other nodes' relayed ones. */
  private readonly workers = new Gatherings();
  /** Other nodes' replies to this node's asks (Redis). */
  private readonly nodes = new Gatherings();
  private readonly turns = new Map<string, number>();

  constructor(private readonly options: AskedPublishesOptions) {}

  /** Whether the bus must look for an item's ask: false keeps the plain path free of it. */
  get isAsking(): boolean {
    return this.workers.isOpen;
  }

  async publish(item: PublishItem, ask: PublishAsk): Promise<ItemReceipt> {
    let target = item;
    let connection: string | undefined;
    if (ask.isOne) {
      const { gathered } = await this.gather(item, 'listeners', ask.waitMs, 0);
      connection = this.pick(item.channel, gathered.connections);
      if (connection === undefined) {
        return { ...this.receiptOf(item.channel, gathered), connection: null };
      }
      target = { ...item, channel: connectionChannelPrefix + connection };
    }
    const { gathered, acked } = await this.gather(target, 'receipt', ask.waitMs, ask.ackMs);
    const receipt = this.receiptOf(item.channel, gathered);
    if (connection !== undefined) receipt.connection = connection;
    // Nobody holds the connection: no acknowledgement can come.
    if (acked) receipt.acknowledged = gathered.written > 0 && (await acked);
    return receipt;
  }

  onWorkerAnswers(answers: BusAnswer[]): void {
    for (const answer of answers) {
      switch (answer.kind) {
        case 'tally':
          this.workers.add(answer.receipt, answer.worker, answer);
          break;
        case 'listeners':
          this.workers.add(answer.receipt, answer.worker, { connections: answer.connections });
          break;
        case 'ack':
          this.options.countAck(this.workers.ack(answer.receipt) ? 'acknowledged' : 'late', 1);
          break;
        case 'client-ack':
          this.passOnClientAck(answer.connection, answer.item);
          break;
        case 'unknown-acks':
          this.options.countAck('unknown', answer.count);
      }
    }
  }

  onNodeReply(reply: NodeReply): void {
    if (reply.kind === 'ack') this.nodes.ack(reply.receipt);
    else this.nodes.add(reply.receipt, reply.node, reply);
  }

  /**
   * Many nodes: an item another node (or this one) published with an ask. This node asks
   * its own workers under a receipt of its own, and replies to the asking node.
   */
  relay(ask: DeliveryAsk): DeliveryAsk {
    const { origin, receipt } = ask;
    const redis = this.options.redis;
    if (origin === undefined || !redis) return ask; // a client ack passed on: as it is
    const local = this.workers.start(ask.waitMs, ask.ackMs);
    local.expect(this.options.workerCount());
    void local.result.then((gathered) => {
      const { listeners, written, dropped, connections, answered } = gathered;
      const workers = { answered, asked: gathered.asked ?? 0 };
      redis.reply(origin, {
        kind: 'answer',
        receipt,
        node: redis.node,
        listeners,
        written,
        dropped,
        connections,
        workers,
      });
    });
    void local.acked?.then((isAcked) => {
      if (isAcked) redis.reply(origin, { kind: 'ack', receipt });
    });
    return { kind: ask.kind, receipt: local.id, waitMs: ask.waitMs, ackMs: ask.ackMs };
  }

  close(): void {
    this.workers.close();
    this.nodes.close();
  }

  private async gather(
    item: PublishItem,
    kind: AskKind,
    waitMs: number,
    ackMs: number,
  ): Promise<{ gathered: Gathered; acked: Promise<boolean> | undefined }> {
    const { redis } = this.options;
    let gathering: Gathering;
    if (!redis) {
      gathering = this.workers.start(waitMs, ackMs);
      gathering.expect(this.options.workerCount());
      const ask: DeliveryAsk = { kind, receipt: gathering.id, waitMs, ackMs };
      if (kind === 'listeners') this.options.askLocal(item.channel, ask);
      else this.options.sendLocal(item, ask);
    } else {
      gathering = this.nodes.start(waitMs, ackMs);
      // Nodes wait half as long for their workers, so that their replies arrive in time.
      const nodeWaitMs = Math.max(1, Math.floor(waitMs / 2));
      const ask: DeliveryAsk = { kind, receipt: gathering.id, waitMs: nodeWaitMs, ackMs };
      ask.origin = redis.node;
      try {
        const isEveryNode = kind === 'listeners' || addressedConnection(item.channel) !== undefined;
        const question: PublishItem =
          kind === 'listeners' ? { channel: item.channel, noSeq: true, formats: {} } : item;
        const nodes = isEveryNode
          ? await redis.publishDirect(question, ask)
          : await redis.publish(item, ask);
        gathering.expect(nodes);
      } catch (err) {
        gathering.ack(false);
        gathering.complete();
        throw err;
      }
    }
    return { gathered: await gathering.result, acked: gathering.acked };
  }

  /** The next of the channel's listeners in turn (ids sorted, so every turn sees one order). */
  private pick(channel: string, connections: string[]): string | undefined {
    if (connections.length === 0) return undefined;
    const ids = [...new Set(connections)].sort();
    const turn = this.turns.get(channel) ?? 0;
    this.turns.delete(channel);
    this.turns.set(channel, turn + 1);
    if (this.turns.size > rotationsMax) this.turns.delete(this.turns.keys().next().value!);
    return ids[turn % ids.length];
  }

  private receiptOf(channel: string, gathered: Gathered): ItemReceipt {
    const { listeners, written, dropped, answered, asked } = gathered;
    if (!this.options.redis) {
      return { channel, listeners, written, dropped, workers: { answered, asked: asked ?? 0 } };
    }
    return {
      channel,
      listeners,
      written,
      dropped,
      workers: gathered.workers ?? { answered: 0, asked: 0 },
      nodes: { answered, asked: asked ?? answered },
    };
  }

  /** An HTTP client's ack that landed on a worker not holding its connection. */
  private passOnClientAck(connection: string, itemId: string): void {
    const item: PublishItem = {
      channel: connectionChannelPrefix + connection,
      id: itemId,
      noSeq: true,
      formats: {},
    };
    const ask: DeliveryAsk = { kind: 'client-ack', receipt: 0, waitMs: 0, ackMs: 0 };
    const { redis } = this.options;
    if (!redis) {
      this.options.sendLocal(item, ask);
      return;
    }
    redis.publishDirect(item, ask).catch((err: unknown) => {
      this.options.logger.warn(
        { err: (err as Error).message, cid: connection },
        'a client acknowledgement could not be passed on: Redis did not take it',
      );
    });
  }
}
