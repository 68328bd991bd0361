import { isDropCounts, type Tally } from './bus-answer.js';

/*
 * Many nodes: what a node tells the node that took a publish with a receipt, an ack or
 * deliver-to-one (src/ipc/delivery.ts DeliveryAsk `origin`), on that node's Redis reply
 * channel. `answer`: its workers' figures for the item, summed (and the connection ids,
 * for a listeners question); `ack`: the client acknowledged the item.
 */
export type NodeReply =
  | ({
      kind: 'answer';
      receipt: number;
      node: string;
      connections: string[];
      workers: { answered: number; asked: number };
    } & Tally)
  | { kind: 'ack'; receipt: number };

export function encodeNodeReply(reply: NodeReply): string {
  return JSON.stringify(reply);
}

/** Undefined for anything that is not a reply (a stray publisher on the channel). */
export function decodeNodeReply(message: Buffer | string): NodeReply | undefined {
  let value: unknown;
  try {
    value = JSON.parse(message.toString());
  } catch {
    return undefined;
  }
  if (typeof value !== 'object' || value === null) return undefined;
  const reply = value as Record<string, unknown>;
  if (!isCount(reply['receipt'])) return undefined;
  if (reply['kind'] === 'ack') return { kind: 'ack', receipt: reply['receipt'] };
  const workers = reply['workers'] as Record<string, unknown> | null | undefined;
  const isAnswer =
    reply['kind'] === 'answer' &&
    typeof reply['node'] === 'string' &&
    isCount(reply['listeners']) &&
    isCount(reply['written']) &&
    isDropCounts(reply['dropped']) &&
    Array.isArray(reply['connections']) &&
    reply['connections'].every((id) => typeof id === 'string') &&
    typeof workers === 'object' &&
    workers !== null &&
    isCount(workers['answered']) &&
    isCount(workers['asked']);
  return isAnswer ? (value as NodeReply) : undefined;
}

function isCount(value: unknown): value is number {
  return Number.isInteger(value) && (value as number) >= 0;
}
