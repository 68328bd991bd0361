import { WsEventsError } from '../errors.js';

/** WebSocket-over-HTTP event body codec, `application/websocket-events` (protocol 4.2). */

export type WsEventType = 'OPEN' | 'TEXT' | 'BINARY' | 'PING' | 'PONG' | 'CLOSE' | 'DISCONNECT';

export interface WsEvent {
  type: WsEventType;
  /**
   * undefined when the event was written without a length (`OPEN\r\n`). Decoded content is a
   * view into the body buffer, not a copy.
   */
  content?: Buffer;
}

const EVENT_TYPES: ReadonlySet<string> = new Set<WsEventType>([
  'OPEN',
  'TEXT',
  'BINARY',
  'PING',
  'PONG',
  'CLOSE',
  'DISCONNECT',
]);
const CR = 0x0d;
const LF = 0x0a;
const SPACE = 0x20;
const CRLF = Buffer.from('\r\n');

/**
 * Encodes events with lower-case hex lengths, like Pushpin. Empty content is written only for
 * TEXT and BINARY (an empty message); other events omit an empty content part, as Pushpin
 * does for PING/PONG and status-less CLOSE.
 */
export function encodeWsEvents(events: readonly WsEvent[]): Buffer {
  const lines: string[] = new Array(events.length);
  let size = 0;
  for (let i = 0; i < events.length; i++) {
    const { type, content } = events[i];
    const hasContent = content !== undefined && (content.length > 0 || isMessage(type));
    lines[i] = hasContent ? `${type} ${content.length.toString(16)}\r\n` : `${type}\r\n`;
    size += lines[i].length + (hasContent ? content.length + 2 : 0);
  }
  const out = Buffer.allocUnsafe(size);
  let pos = 0;
  for (let i = 0; i < events.length; i++) {
    pos += out.write(lines[i], pos, 'latin1');
    const { type, content } = events[i];
    if (content !== undefined && (content.length > 0 || isMessage(type))) {
      pos += content.copy(out, pos);
      out[pos++] = CR;
      out[pos++] = LF;
    }
  }
  return out;
}

/**
 * Decodes a body into events. Unknown event types are skipped (Pushpin ignores them); a bad
 * length, a missing CRLF or content shorter than its length throws WsEventsError.
 */
export function decodeWsEvents(body: Buffer): WsEvent[] {
  const events: WsEvent[] = [];
  let pos = 0;
  while (pos < body.length) {
    const eol = body.indexOf(CRLF, pos);
    if (eol === -1) {
      throw new WsEventsError(`event line at offset ${pos} has no CRLF`);
    }
    const lineSpace = body.subarray(pos, eol).indexOf(SPACE);
    const space = lineSpace === -1 ? -1 : pos + lineSpace;
    let type: string;
    let content: Buffer | undefined;
    if (space !== -1) {
      type = body.toString('latin1', pos, space);
      const lengthText = body.toString('latin1', space + 1, eol);
      // Up to 8 hex digits: a 32-bit length, more than any body we accept.
      if (!/^[0-9a-fA-F]{1,8}$/.test(lengthText)) {
        throw new WsEventsError(`${type} event at offset ${pos} has bad length '${lengthText}'`);
      }
      const start = eol + 2;
      const end = start + parseInt(lengthText, 16);
      if (end + 2 > body.length) {
        throw new WsEventsError(`${type} event at offset ${pos} is truncated`);
      }
      if (body[end] !== CR || body[end + 1] !== LF) {
        throw new WsEventsError(`${type} event at offset ${pos} has no CRLF after its content`);
      }
      content = body.subarray(start, end);
      pos = end + 2;
    } else {
      type = body.toString('latin1', pos, eol);
      pos = eol + 2;
    }
    if (!EVENT_TYPES.has(type)) continue;
    const event: WsEvent = { type: type as WsEventType };
    if (content !== undefined) event.content = content;
    events.push(event);
  }
  return events;
}

/** CLOSE content: 2-byte big-endian code, then the UTF-8 reason; undefined for no status. */
export function encodeCloseContent(code: number | undefined, reason = ''): Buffer | undefined {
  if (code === undefined) return undefined;
  const out = Buffer.allocUnsafe(2 + Buffer.byteLength(reason));
  out.writeUInt16BE(code, 0);
  out.write(reason, 2, 'utf8');
  return out;
}

/** Reads CLOSE content; no or empty content means a close without status. */
export function decodeCloseContent(content: Buffer | undefined): {
  code?: number;
  reason: string;
} {
  if (content === undefined || content.length === 0) return { reason: '' };
  if (content.length < 2) throw new WsEventsError('CLOSE event content is shorter than a code');
  return { code: content.readUInt16BE(0), reason: content.toString('utf8', 2) };
}

function isMessage(type: WsEventType): boolean {
  return type === 'TEXT' || type === 'BINARY';
}
