import type { BodyPatchOperation } from '../grip/body-patch.js';
import {
  publishActions,
  wsMessageTypes,
  type PublishAction,
  type PublishItem,
  type WsMessageType,
} from '../grip/publish-types.js';

/**
 * What the handler sends on its internal XPUB for one published item, and what proxy
 * workers decode. Frames: [channel, header, ...payload]. Bodies travel as raw
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
  /** The publisher asked that the item skip prev-id sequencing (`no-seq`). */
  noSeq?: boolean;
  response?: {
    action: PublishAction;
    code: number;
    reason: string;
    headers: [string, string][];
    /** Payload frame index of the body. */
    body: number;
    bodyPatch?: BodyPatchOperation[];
    contentFilters?: string[];
  };
  stream?: {
    action: PublishAction;
    content: number;
    contentFilters?: string[];
  };
  ws?: {
    action: PublishAction;
    type: WsMessageType;
    content: number;
    code?: number;
    reason?: string;
    contentFilters?: string[];
  };
  /** Set only when a publisher asked for a receipt, an ack or one listener (opt-in). */
  ask?: DeliveryAsk;
}

/**
 * What the handler asks the workers about one item; they answer on the stats socket
 * (src/ipc/bus-answer.ts). `receipt`: count the connections it was written to and why it
 * was not; `listeners`: name the channel's connections, deliver nothing (deliver-to-one);
 * `client-ack`: a client acknowledged item `id` on a worker that does not hold it.
 */
export const askKinds = ['receipt', 'listeners', 'client-ack'] as const;
export type AskKind = (typeof askKinds)[number];

export interface DeliveryAsk {
  kind: AskKind;
  /** The asking handler's receipt number, which the answers name. */
  receipt: number;
  /** How long the asker waits for the answers (a node waits this long for its workers). */
  waitMs: number;
  /** `receipt` of one connection: how long its acknowledgement is awaited; 0: not asked. */
  ackMs: number;
  /** Many nodes: the node that took the publish, which the node answers reach. */
  origin?: string;
}

export interface Delivery {
  channel: string;
  header: DeliveryHeader;
  /** Payload frames; header fields index into this. */
  payload: Buffer[];
}

/*
 * The header frame is binary so that the common item (a stream or WebSocket send without
 * id, meta or filters) costs no JSON work on either side: formats bitmask (u8), seq and
 * time (f64 LE each), then per format present its codes (stream: action; ws: action, type;
 * response: action, status code u16; an action or type code is its index in publishActions
 * or wsMessageTypes), then, only when something else is set, a JSON object of the
 * remaining fields. Payload frames follow in format order: response body, stream content,
 * ws content.
 */
const RESPONSE = 1;
const STREAM = 2;
const WS = 4;
const EXTRA = 8;
const NO_SEQ = 16;
const ASK = 32;
/** The ask's binary part: kind (u8), receipt, waitMs, ackMs (u32 LE each). */
const ASK_SIZE = 13;

/** Whether a delivery's header frame carries an ask: one byte test, for the hot path. */
export function isAsked(header: Buffer): boolean {
  return (header[0]! & ASK) !== 0;
}

/** The header fields that travel as JSON, present only when set. */
interface HeaderExtra {
  id?: string;
  prevId?: string;
  meta?: Record<string, string>;
  reason?: string;
  headers?: [string, string][];
  bodyPatch?: BodyPatchOperation[];
  responseFilters?: string[];
  streamFilters?: string[];
  wsCode?: number;
  wsReason?: string;
  wsFilters?: string[];
  origin?: string;
}

export function encodeDelivery(
  item: PublishItem,
  seq: number,
  time: number,
  ask?: DeliveryAsk,
): Buffer[] {
  const payload: Buffer[] = [];
  const { httpResponse, httpStream, wsMessage } = item.formats;
  let flags = item.noSeq ? NO_SEQ : 0;
  let size = 17;
  let extra: HeaderExtra | undefined;
  if (ask) {
    flags |= ASK;
    size += ASK_SIZE;
    if (ask.origin !== undefined) (extra ??= {}).origin = ask.origin;
  }
  if (item.id !== undefined) (extra ??= {}).id = item.id;
  if (item.prevId !== undefined) (extra ??= {}).prevId = item.prevId;
  // Meta and content-filters travel only when given, so the common header stays small.
  if (item.meta !== undefined && Object.keys(item.meta).length > 0) (extra ??= {}).meta = item.meta;
  if (httpResponse) {
    flags |= RESPONSE;
    size += 3;
    payload.push(httpResponse.body);
    (extra ??= {}).reason = httpResponse.reason;
    (extra ??= {}).headers = httpResponse.headers;
    if (httpResponse.bodyPatch) (extra ??= {}).bodyPatch = httpResponse.bodyPatch;
    if (httpResponse.contentFilters) (extra ??= {}).responseFilters = httpResponse.contentFilters;
  }
  if (httpStream) {
    flags |= STREAM;
    size += 1;
    payload.push(httpStream.content);
    if (httpStream.contentFilters) (extra ??= {}).streamFilters = httpStream.contentFilters;
  }
  if (wsMessage) {
    flags |= WS;
    size += 2;
    payload.push(wsMessage.content);
    if (wsMessage.code !== undefined) (extra ??= {}).wsCode = wsMessage.code;
    if (wsMessage.reason !== undefined) (extra ??= {}).wsReason = wsMessage.reason;
    if (wsMessage.contentFilters) (extra ??= {}).wsFilters = wsMessage.contentFilters;
  }
  const json = extra ? JSON.stringify(extra) : '';
  if (extra) flags |= EXTRA;
  const header = Buffer.allocUnsafe(size + Buffer.byteLength(json));
  header[0] = flags;
  header.writeDoubleLE(seq, 1);
  header.writeDoubleLE(time, 9);
  let at = 17;
  if (httpResponse) {
    header[at] = publishActions.indexOf(httpResponse.action);
    header.writeUInt16LE(httpResponse.code, at + 1);
    at += 3;
  }
  if (httpStream) header[at++] = publishActions.indexOf(httpStream.action);
  if (wsMessage) {
    header[at] = publishActions.indexOf(wsMessage.action);
    header[at + 1] = wsMessageTypes.indexOf(wsMessage.type);
    at += 2;
  }
  if (ask) {
    header[at] = askKinds.indexOf(ask.kind);
    header.writeUInt32LE(ask.receipt, at + 1);
    header.writeUInt32LE(ask.waitMs, at + 5);
    header.writeUInt32LE(ask.ackMs, at + 9);
    at += ASK_SIZE;
  }
  if (extra) header.write(json, at, 'utf8');
  return [Buffer.from(item.channel), header, ...payload];
}

/** Returns undefined for frames that are not a delivery (a worker ignores those). */
export function decodeDelivery(
  frames: Buffer[],
  channel = frames[0]?.toString('utf8') ?? '',
): Delivery | undefined {
  const header = frames[1];
  if (frames.length < 2 || !header || header.length < 17) return undefined;
  const flags = header[0]!;
  const decoded: DeliveryHeader = { seq: header.readDoubleLE(1), time: header.readDoubleLE(9) };
  let at = 17;
  let index = 0;
  let responseCodes: [number, number] | undefined;
  if (flags & RESPONSE) {
    if (header.length < at + 3) return undefined;
    responseCodes = [header[at]!, header.readUInt16LE(at + 1)];
    at += 3;
  }
  let streamAction: number | undefined;
  if (flags & STREAM) streamAction = header[at++];
  let wsCodes: [number, number] | undefined;
  if (flags & WS) {
    wsCodes = [header[at]!, header[at + 1]!];
    at += 2;
  }
  let ask: DeliveryAsk | undefined;
  if (flags & ASK) {
    const kind = askKinds[header[at] ?? askKinds.length];
    if (!kind || header.length < at + ASK_SIZE) return undefined;
    ask = {
      kind,
      receipt: header.readUInt32LE(at + 1),
      waitMs: header.readUInt32LE(at + 5),
      ackMs: header.readUInt32LE(at + 9),
    };
    at += ASK_SIZE;
  }
  if (at > header.length) return undefined;
  let extra: HeaderExtra = {};
  if (flags & EXTRA) {
    try {
      extra = JSON.parse(header.toString('utf8', at)) as HeaderExtra;
    } catch {
      return undefined;
    }
    if (typeof extra !== 'object' || extra === null) return undefined;
  }
  if (flags & NO_SEQ) decoded.noSeq = true;
  if (ask) {
    if (typeof extra.origin === 'string') ask.origin = extra.origin;
    decoded.ask = ask;
  }
  if (extra.id !== undefined) decoded.id = extra.id;
  if (extra.prevId !== undefined) decoded.prevId = extra.prevId;
  if (extra.meta !== undefined) decoded.meta = extra.meta;
  if (responseCodes) {
    const action = publishActions[responseCodes[0]];
    if (!action) return undefined;
    decoded.response = {
      action,
      code: responseCodes[1],
      reason: extra.reason ?? '',
      headers: extra.headers ?? [],
      body: index++,
    };
    if (extra.bodyPatch !== undefined) decoded.response.bodyPatch = extra.bodyPatch;
    if (extra.responseFilters) decoded.response.contentFilters = extra.responseFilters;
  }
  if (streamAction !== undefined) {
    const action = publishActions[streamAction];
    if (!action) return undefined;
    decoded.stream = { action, content: index++ };
    if (extra.streamFilters) decoded.stream.contentFilters = extra.streamFilters;
  }
  if (wsCodes) {
    const action = publishActions[wsCodes[0]];
    const type = wsMessageTypes[wsCodes[1]];
    if (!action || !type) return undefined;
    decoded.ws = { action, type, content: index++ };
    if (extra.wsCode !== undefined) decoded.ws.code = extra.wsCode;
    if (extra.wsReason !== undefined) decoded.ws.reason = extra.wsReason;
    if (extra.wsFilters) decoded.ws.contentFilters = extra.wsFilters;
  }
  if (frames.length !== 2 + index) return undefined;
  return { channel, header: decoded, payload: frames.slice(2) };
}

/** The publish item a delivery was encoded from (a handler reading deliveries from Redis). */
export function deliveryItem(delivery: Delivery): PublishItem {
  const { channel, header, payload } = delivery;
  const item: PublishItem = { channel, noSeq: header.noSeq === true, formats: {} };
  if (header.id !== undefined) item.id = header.id;
  if (header.prevId !== undefined) item.prevId = header.prevId;
  if (header.meta !== undefined) item.meta = header.meta;
  const { response, stream, ws } = header;
  if (response) {
    item.formats.httpResponse = {
      action: response.action,
      code: response.code,
      reason: response.reason,
      headers: response.headers,
      body: payload[response.body]!,
    };
    if (response.bodyPatch) item.formats.httpResponse.bodyPatch = response.bodyPatch;
    if (response.contentFilters) item.formats.httpResponse.contentFilters = response.contentFilters;
  }
  if (stream) {
    item.formats.httpStream = { action: stream.action, content: payload[stream.content]! };
    if (stream.contentFilters) item.formats.httpStream.contentFilters = stream.contentFilters;
  }
  if (ws) {
    item.formats.wsMessage = { action: ws.action, type: ws.type, content: payload[ws.content]! };
    if (ws.code !== undefined) item.formats.wsMessage.code = ws.code;
    if (ws.reason !== undefined) item.formats.wsMessage.reason = ws.reason;
    if (ws.contentFilters) item.formats.wsMessage.contentFilters = ws.contentFilters;
  }
  return item;
}

/*
 * A worker that subscribes a channel also subscribes a one-off replay-end topic right after
 * it. The handler answers that subscription with a replay-end message, queued behind the
 * channel's replay, so the worker knows when the replay is complete and can deliver the
 * replayed and the live items in order. Such topics are never channels.
 */
export const replayEndPrefix = '\u0000replay-end:';

export function encodeReplayEnd(topic: string): Buffer[] {
  return [Buffer.from(topic), Buffer.alloc(0)];
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

/*
 * Resume: a hold whose backend gave `prev-id` asks the handler what followed that id on
 * the channel, by subscribing a one-off topic naming both. The handler answers on that
 * topic, in one send: a status delivery [topic, status JSON], then `count` deliveries
 * whose first frame is the topic instead of the channel. Any worker may see the answer;
 * only the one that asked knows the topic.
 */
export const resumePrefix = '\u0000resume:';

export type ResumeStatus =
  /** `count` items follow; `seq` is the bus seq of the prev-id item itself. */
  | { kind: 'after'; count: number; seq: number }
  /**
   * History does not reach the prev-id, and the channel's last id is `lastId`, at bus seq
   * `seq` (absent from a handler older than the field).
   */
  | { kind: 'gap'; lastId: string; seq?: number }
  | { kind: 'unknown' };

export function encodeResumeTopic(token: string, channel: string, prevId: string): string {
  return resumePrefix + JSON.stringify([token, channel, prevId]);
}

/** The channel and prev-id a resume topic asks about; undefined when it is malformed. */
export function decodeResumeTopic(topic: string): { channel: string; prevId: string } | undefined {
  if (!topic.startsWith(resumePrefix)) return undefined;
  let parts: unknown;
  try {
    parts = JSON.parse(topic.slice(resumePrefix.length));
  } catch {
    return undefined;
  }
  if (!Array.isArray(parts) || parts.length !== 3) return undefined;
  const [, channel, prevId] = parts as unknown[];
  if (typeof channel !== 'string' || typeof prevId !== 'string' || channel === '') return undefined;
  return { channel, prevId };
}

export function encodeResumeAnswer(
  topic: string,
  status: ResumeStatus,
  deliveries: readonly Buffer[][],
): Buffer[][] {
  const name = Buffer.from(topic);
  const out: Buffer[][] = [[name, Buffer.from(JSON.stringify(status))]];
  for (const frames of deliveries) out.push([name, ...frames.slice(1)]);
  return out;
}

export function decodeResumeStatus(frame: Buffer): ResumeStatus | undefined {
  let status: unknown;
  try {
    status = JSON.parse(frame.toString('utf8'));
  } catch {
    return undefined;
  }
  if (typeof status !== 'object' || status === null) return undefined;
  const value = status as Record<string, unknown>;
  if (value['kind'] === 'unknown') return { kind: 'unknown' };
  if (value['kind'] === 'gap' && typeof value['lastId'] === 'string') {
    const seq = value['seq'];
    return typeof seq === 'number'
      ? { kind: 'gap', lastId: value['lastId'], seq }
      : { kind: 'gap', lastId: value['lastId'] };
  }
  if (
    value['kind'] === 'after' &&
    Number.isInteger(value['count']) &&
    typeof value['seq'] === 'number'
  ) {
    return { kind: 'after', count: value['count'] as number, seq: value['seq'] };
  }
  return undefined;
}
