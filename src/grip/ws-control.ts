import { WsControlError } from '../errors.js';
import { clampTimerSeconds } from '../timer-limit.js';
import { channelNameProblem } from './channel-name.js';
import { parseHeaderParts } from './header-params.js';
import { isWsMessageType, type WsMessageType } from './publish-types.js';

/*
 * GRIP over WebSockets (protocol 4.7, 4.8): the `grip` extension a backend answers with,
 * and the `c:` control messages it may then send. Pure: the proxy decides what they do.
 */

/** More filters than this on one subscription closes the connection (Pushpin: 1011). */
export const WS_FILTERS_MAX = 5;

/** Keep-alive timeout when the control message names none (or 0), in seconds. */
const WS_KEEP_ALIVE_DEFAULT_TIMEOUT = 55;

export interface WsKeepAlive {
  content: Buffer;
  messageType: WsMessageType;
  /** Seconds, >= 1. */
  timeout: number;
  mode: 'idle' | 'interval';
}

export type WsControlMessage =
  /**
   * `prevId` (`"prev-id"`, a thumbtack extension): the last item the backend already sent
   * this client on the channel; items after it come from history before live ones.
   */
  | { type: 'subscribe'; channel: string; filters: string[]; prevId?: string }
  | { type: 'unsubscribe'; channel: string }
  | { type: 'detach' }
  | { type: 'set-meta'; name: string; value: string | undefined }
  /** undefined keepAlive: no content given, keep-alives off. */
  | { type: 'keep-alive'; keepAlive: WsKeepAlive | undefined };

/** What the backend's `grip` extension parameters say; undefined when GRIP is off. */
export interface GripExtension {
  /** Stripped from every relayed backend message; unprefixed messages are dropped. */
  messagePrefix: Buffer;
}

/** What one complete backend message is, once GRIP is on. */
export type BackendMessage =
  { kind: 'control'; json: Buffer } | { kind: 'relay'; content: Buffer } | { kind: 'drop' };

const CONTROL_PREFIX = Buffer.from('c:');
const DEFAULT_MESSAGE_PREFIX = 'm:';

/**
 * Finds `grip` among the backend's `Sec-WebSocket-Extensions` values (comma-separated, name
 * matched exactly). `message-prefix` defaults to `m:`; a parameter without a value, or `""`,
 * means no prefix. A part with an unterminated quote does not count, as in Pushpin.
 */
export function parseGripExtension(values: readonly string[]): GripExtension | undefined {
  for (const part of parseHeaderParts(values)) {
    if (part.value !== 'grip') continue;
    const param = part.params.find((p) => p.name === 'message-prefix');
    const prefix = param ? (param.value ?? '') : DEFAULT_MESSAGE_PREFIX;
    return { messagePrefix: Buffer.from(prefix, 'latin1') };
  }
  return undefined;
}

/**
 * Applies the prefix rules to one complete backend message: a TEXT message starting with
 * `c:` is a control message; anything else must start with the message prefix, which is
 * removed, or it is dropped. The relayed content is a view into `content`, not a copy.
 */
export function classifyBackendMessage(
  content: Buffer,
  isText: boolean,
  extension: GripExtension,
): BackendMessage {
  if (isText && startsWith(content, CONTROL_PREFIX)) {
    return { kind: 'control', json: content.subarray(CONTROL_PREFIX.length) };
  }
  const prefix = extension.messagePrefix;
  if (!startsWith(content, prefix)) return { kind: 'drop' };
  return { kind: 'relay', content: content.subarray(prefix.length) };
}

/**
 * Parses the JSON after `c:`. Throws WsControlError for malformed JSON, a non-object, an
 * unknown type or missing required fields; the caller ignores such a message (and logs it).
 * Filters are returned as given: more than WS_FILTERS_MAX is the caller's to refuse.
 */
export function parseWsControlMessage(json: Buffer | string): WsControlMessage {
  let value: unknown;
  try {
    value = JSON.parse(typeof json === 'string' ? json : json.toString('utf8'));
  } catch {
    throw new WsControlError('control message is not valid JSON');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new WsControlError('control message is not a JSON object');
  }
  const message = value as Record<string, unknown>;
  const type = message['type'];
  switch (type) {
    case 'subscribe': {
      const subscribe: WsControlMessage = {
        type,
        channel: requireChannel(message, type),
        filters: readFilters(message['filters']),
      };
      const prevId = message['prev-id'];
      if (prevId !== undefined && prevId !== null) {
        if (typeof prevId !== 'string' || prevId === '') {
          throw new WsControlError("subscribe 'prev-id' must be a non-empty string");
        }
        subscribe.prevId = prevId;
      }
      return subscribe;
    }
    case 'unsubscribe':
      return { type, channel: requireChannel(message, type) };
    case 'detach':
      return { type };
    case 'set-meta': {
      const name = requireName(message, 'name', type);
      const raw = message['value'];
      if (raw !== undefined && raw !== null && typeof raw !== 'string') {
        throw new WsControlError("set-meta 'value' must be a string or null");
      }
      return { type, name, value: raw ?? undefined };
    }
    case 'keep-alive':
      return { type, keepAlive: readKeepAlive(message) };
    default:
      throw new WsControlError(
        typeof type === 'string'
          ? `unknown control message type '${type}'`
          : "control message has no 'type'",
      );
  }
}

function requireName(message: Record<string, unknown>, field: string, type: string): string {
  const value = message[field];
  if (typeof value !== 'string' || value === '') {
    throw new WsControlError(`${type} needs a non-empty string '${field}'`);
  }
  return value;
}

function requireChannel(message: Record<string, unknown>, type: string): string {
  const channel = requireName(message, 'channel', type);
  const problem = channelNameProblem(channel);
  if (problem) throw new WsControlError(`${type} 'channel' ${problem}`);
  return channel;
}

function readFilters(value: unknown): string[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value) || value.some((f) => typeof f !== 'string')) {
    throw new WsControlError("subscribe 'filters' must be an array of strings");
  }
  return value as string[];
}

function readKeepAlive(message: Record<string, unknown>): WsKeepAlive | undefined {
  const text = message['content'];
  const base64 = message['content-bin'];
  let content: Buffer;
  if (base64 !== undefined && base64 !== null) {
    if (typeof base64 !== 'string')
      throw new WsControlError("keep-alive 'content-bin' must be Base64 text");
    content = Buffer.from(base64, 'base64');
  } else if (text !== undefined && text !== null) {
    if (typeof text !== 'string') throw new WsControlError("keep-alive 'content' must be a string");
    content = Buffer.from(text, 'utf8');
  } else {
    return undefined;
  }
  // Pushpin quirk kept on purpose: `content-bin` without `message-type` still goes out as text.
  const type = message['message-type'] ?? 'text';
  if (!isWsMessageType(type)) {
    throw new WsControlError(`keep-alive has unknown 'message-type' ${JSON.stringify(type)}`);
  }
  const rawTimeout = message['timeout'] ?? 0;
  if (typeof rawTimeout !== 'number' || !Number.isInteger(rawTimeout) || rawTimeout < 0) {
    throw new WsControlError("keep-alive 'timeout' must be a whole number of seconds >= 0");
  }
  const mode = message['mode'] ?? 'idle';
  if (mode !== 'idle' && mode !== 'interval') {
    throw new WsControlError(`keep-alive has unknown 'mode' ${JSON.stringify(mode)}`);
  }
  return {
    content,
    messageType: type,
    timeout: rawTimeout === 0 ? WS_KEEP_ALIVE_DEFAULT_TIMEOUT : clampTimerSeconds(rawTimeout),
    mode,
  };
}

function startsWith(content: Buffer, prefix: Buffer): boolean {
  return (
    content.length >= prefix.length &&
    content.compare(prefix, 0, prefix.length, 0, prefix.length) === 0
  );
}
