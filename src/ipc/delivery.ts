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
