import type { PublishItem } from '../grip/publish-types.js';

/**
 * What the handler sends on its internal XPUB for one published item, and what proxy
 * workers decode. Frames: [channel, header JSON, ...payload]. Bodies travel as raw
 * frames so a worker writes them to sockets without re-encoding; the header is parsed
 * once per worker, never per connection.
 */
export interface DeliveryHeader {
  /** Handler-assigned, increasing for the handler's lifetime and across restarts. */
  seq: number;
  /** Milliseconds since the epoch when the handler accepted the item. */
  time: number;
  id?: string;
  prevId?: string;
  /** The item's `meta`, for subscribers' filters; absent when the item has none. */
  meta?: Record<string, string>;
  response?: {
    action: 'send' | 'hint' | 'close' | 'refresh';
    code: number;
    reason: string;
    headers: [string, string][];
    /** Payload frame index of the body. */
    body: number;
    contentFilters?: string[];
  };
  stream?: {
    action: 'send' | 'close' | 'hint' | 'refresh';
    content: number;
    contentFilters?: string[];
  };
  ws?: {
    action: 'send' | 'close' | 'refresh' | 'hint';
    type: 'text' | 'binary' | 'ping' | 'pong';
    content: number;
    code?: number;
    reason?: string;
    contentFilters?: string[];
  };
}

export interface Delivery {
  channel: string;
  header: DeliveryHeader;
  /** Payload frames; header fields index into this. */
  payload: Buffer[];
}

export function encodeDelivery(item: PublishItem, seq: number, time: number): Buffer[] {
  const payload: Buffer[] = [];
  const header: DeliveryHeader = { seq, time };
  if (item.id !== undefined) header.id = item.id;
  if (item.prevId !== undefined) header.prevId = item.prevId;
  // Meta and content-filters travel only when given, so the common frame stays small.
  if (item.meta !== undefined && Object.keys(item.meta).length > 0) header.meta = item.meta;
  const { httpResponse, httpStream, wsMessage } = item.formats;
  if (httpResponse) {
    header.response = {
      action: httpResponse.action,
      code: httpResponse.code,
      reason: httpResponse.reason,
      headers: httpResponse.headers,
      body: payload.push(httpResponse.body) - 1,
    };
    if (httpResponse.contentFilters) header.response.contentFilters = httpResponse.contentFilters;
  }
  if (httpStream) {
    header.stream = { action: httpStream.action, content: payload.push(httpStream.content) - 1 };
    if (httpStream.contentFilters) header.stream.contentFilters = httpStream.contentFilters;
  }
  if (wsMessage) {
    header.ws = {
      action: wsMessage.action,
      type: wsMessage.type,
      content: payload.push(wsMessage.content) - 1,
    };
    if (wsMessage.code !== undefined) header.ws.code = wsMessage.code;
    if (wsMessage.reason !== undefined) header.ws.reason = wsMessage.reason;
    if (wsMessage.contentFilters) header.ws.contentFilters = wsMessage.contentFilters;
  }
  return [Buffer.from(item.channel), Buffer.from(JSON.stringify(header)), ...payload];
}

/** Returns undefined for frames that are not a delivery (a worker ignores those). */
export function decodeDelivery(frames: Buffer[]): Delivery | undefined {
  if (frames.length < 2) return undefined;
  let header: DeliveryHeader;
  try {
    header = JSON.parse(frames[1]!.toString('utf8')) as DeliveryHeader;
  } catch {
    return undefined;
  }
  if (typeof header !== 'object' || header === null || typeof header.seq !== 'number') {
    return undefined;
  }
  return { channel: frames[0]!.toString('utf8'), header, payload: frames.slice(2) };
}

/*
 * A bus message carries every delivery of one handler send, so that a burst of items for
 * distinct channels costs one ZeroMQ message per worker rather than one per item. It is a
 * single frame, because zeromq.js pays per frame (each received frame is a new external
 * Buffer): per delivery, a frame count byte, then per frame a uint32 LE length and the
 * bytes. Workers subscribe the empty topic to receive these and pick out their channels.
 */
const deliveryFramesMax = 255;

export function encodeBusMessage(deliveries: Buffer[][]): Buffer {
  let size = 0;
  for (const frames of deliveries) {
    if (frames.length > deliveryFramesMax) throw new Error('a delivery has too many frames');
    size += 1;
    for (const frame of frames) size += 4 + frame.length;
  }
  const message = Buffer.allocUnsafe(size);
  let at = 0;
  for (const frames of deliveries) {
    message[at++] = frames.length;
    for (const frame of frames) {
      message.writeUInt32LE(frame.length, at);
      at += 4 + frame.copy(message, at + 4);
    }
  }
  return message;
}

/**
 * Each delivery's frames, as views into the message; undefined when the lengths do not
 * add up (not a bus message).
 */
export function splitBusMessage(message: Buffer): Buffer[][] | undefined {
  const deliveries: Buffer[][] = [];
  let at = 0;
  while (at < message.length) {
    const count = message[at++]!;
    if (count < 2) return undefined;
    const frames: Buffer[] = new Array(count);
    for (let i = 0; i < count; i++) {
      if (at + 4 > message.length) return undefined;
      const end = at + 4 + message.readUInt32LE(at);
      if (end > message.length) return undefined;
      frames[i] = message.subarray(at + 4, end);
      at = end;
    }
    deliveries.push(frames);
  }
  return deliveries.length > 0 ? deliveries : undefined;
}
