import type { PublishItem } from '../grip/publish-types.js';
import {
  decodeDelivery,
  deliveryItem,
  encodeBusMessage,
  encodeDelivery,
  splitBusMessage,
  type DeliveryAsk,
} from './delivery.js';

/**
 * How an item travels through Redis between thumbtack nodes. The publishing node encodes
 * it once (the bus's binary delivery form, without seq or time); the publish script adds
 * the position and time Redis gave it. A channel's items are one Redis Stream, whose entry
 * ids (`<ms>-<n>`) are the channel's positions, and each item is also published on the
 * channel's pub/sub channel as `<entry id> <time µs> <payload>`.
 */
export interface RedisEntry {
  /** The stream entry id: the item's position in its channel. */
  position: string;
  /** Redis's clock when the item was stored, in microseconds since the epoch. */
  timeMicros: number;
  item: PublishItem;
  /** What the publishing node asks of every node about the item (a receipt, an ack). */
  ask?: DeliveryAsk;
}

/** The item and, when the publisher asked for one, its receipt request (with its origin). */
export interface RedisPayload {
  item: PublishItem;
  ask?: DeliveryAsk;
}

export function encodeRedisPayload(item: PublishItem, ask?: DeliveryAsk): Buffer {
  return encodeBusMessage([encodeDelivery(item, 0, 0, ask)]);
}

/**
 * Undefined when the bytes are not an item (another program's message on the channel), or
 * not one of `channel` when it is given.
 */
export function decodeRedisPayload(payload: Buffer, channel?: string): RedisPayload | undefined {
  const deliveries = splitBusMessage(payload);
  if (!deliveries || deliveries.length !== 1) return undefined;
  const delivery = decodeDelivery(deliveries[0]!);
  if (!delivery || (channel !== undefined && delivery.channel !== channel)) return undefined;
  const item = deliveryItem(delivery);
  const ask = delivery.header.ask;
  return ask ? { item, ask } : { item };
}

/** A pub/sub message: `<position> <time µs> <payload>`. */
export function decodeRedisMessage(message: Buffer, channel: string): RedisEntry | undefined {
  const first = message.indexOf(0x20);
  const second = first < 0 ? -1 : message.indexOf(0x20, first + 1);
  if (second < 0) return undefined;
  const position = message.toString('latin1', 0, first);
  const timeMicros = Number(message.toString('latin1', first + 1, second));
  if (!isPosition(position) || !Number.isSafeInteger(timeMicros)) return undefined;
  const decoded = decodeRedisPayload(message.subarray(second + 1), channel);
  return decoded && { position, timeMicros, ...decoded };
}

/** One XRANGE entry: its id and flat field list (`t` time µs, `d` payload). */
export function decodeStreamEntry(
  id: Buffer | string,
  fields: (Buffer | string)[],
  channel: string,
): RedisEntry | undefined {
  let time: string | undefined;
  let payload: Buffer | undefined;
  for (let i = 0; i + 1 < fields.length; i += 2) {
    const name = fields[i]!.toString();
    const value = fields[i + 1]!;
    if (name === 't') time = value.toString();
    else if (name === 'd') payload = Buffer.isBuffer(value) ? value : Buffer.from(value, 'latin1');
  }
  const position = id.toString();
  const timeMicros = Number(time);
  if (!isPosition(position) || !Number.isSafeInteger(timeMicros) || !payload) return undefined;
  const decoded = decodeRedisPayload(payload, channel);
  return decoded && { position, timeMicros, ...decoded };
}

function isPosition(text: string): boolean {
  return /^\d+-\d+$/.test(text);
}

/** Orders two stream entry ids (`<ms>-<n>`): negative when `a` comes first. */
export function comparePositions(a: string, b: string): number {
  const dashA = a.indexOf('-');
  const dashB = b.indexOf('-');
  const ms = Number(a.slice(0, dashA)) - Number(b.slice(0, dashB));
  if (ms !== 0) return ms;
  return Number(a.slice(dashA + 1)) - Number(b.slice(dashB + 1));
}

/**
 * The bus seq of an item read from Redis, derived from its position so that a restarted
 * handler gives a replayed item the seq it had before, and workers recognise it. Up to 2,048
 * items per millisecond per channel get distinct values (the caller moves a later one past
 * its channel's last seq); exact as a double until the year 2109.
 */
export function positionSeq(position: string): number {
  const dash = position.indexOf('-');
  const ms = Number(position.slice(0, dash));
  const n = Number(position.slice(dash + 1));
  return ms * 2048 + Math.min(n, 2047);
}
