import { isGripRequestHeader } from './header-field.js';
/*
 * Header rules of WebSocket-over-HTTP (protocol 4.1, 4.3, 4.5, 4.6): which client headers
 * are replayed on every request, what the backend's answers set, and which of the accepting
 * answer's headers the client sees in its 101. Pure; names are compared in lower case.
 */

import { clampTimerSeconds } from '../timer-limit.js';

export const WS_EVENTS_CONTENT_TYPE = 'application/websocket-events';

/** Keep-Alive-Interval values below this are raised to it (Pushpin). */
const KEEP_ALIVE_INTERVAL_MIN = 20;

/** Client handshake headers never replayed: the proxy sets them, or they describe one hop. */
const notReplayed: ReadonlySet<string> = new Set([
  'upgrade',
  'connection',
  'keep-alive',
  'accept',
  'connection-id',
  'content-length',
  'content-type',
  'accept-encoding',
  'content-encoding',
  'transfer-encoding',
  'expect',
  'sec-websocket-extensions',
]);

/** Accepting-answer headers kept from the client's 101 (uWS writes the protocol ones itself). */
const notInSwitchingProtocols: ReadonlySet<string> = new Set([
  'content-length',
  'content-type',
  'keep-alive-interval',
  'sec-websocket-extensions',
  'sec-websocket-protocol',
  'sec-websocket-accept',
  'upgrade',
  'connection',
  'keep-alive',
  'transfer-encoding',
  'date',
]);

/**
 * Whether a client handshake header (lower-case name) is replayed to the backend. Clients
 * cannot inject `Meta-*` (the backend's own values) or `Grip-*`.
 */
export function isReplayedClientHeader(name: string): boolean {
  return !notReplayed.has(name) && !name.startsWith('meta-') && !isGripRequestHeader(name);
}

/** Whether a header of the backend's accepting answer goes into the client's 101. */
export function isSwitchingProtocolsHeader(name: string): boolean {
  const lower = name.toLowerCase();
  return !notInSwitchingProtocols.has(lower) && !lower.startsWith('set-meta-');
}

/** The first value of a header (name compared case-insensitively), or undefined. */
export function findHeader(headers: readonly [string, string][], name: string): string | undefined {
  for (const [n, v] of headers) if (n.length === name.length && n.toLowerCase() === name) return v;
  return undefined;
}

/** Every value of a header, in order. */
export function findHeaders(headers: readonly [string, string][], name: string): string[] {
  const out: string[] = [];
  for (const [n, v] of headers)
    if (n.length === name.length && n.toLowerCase() === name) out.push(v);
  return out;
}

/**
 * Reads `Keep-Alive-Interval` from a backend answer: undefined when the header is absent (the
 * previous setting stays), 0 when it disables keep-alives (0, negative or unparseable), else
 * seconds, raised to KEEP_ALIVE_INTERVAL_MIN.
 */
export function parseKeepAliveInterval(headers: readonly [string, string][]): number | undefined {
  const value = findHeader(headers, 'keep-alive-interval');
  if (value === undefined) return undefined;
  const trimmed = value.trim();
  if (!/^[+-]?\d{1,10}$/.test(trimmed)) return 0;
  const seconds = Number(trimmed);
  if (seconds <= 0) return 0;
  return clampTimerSeconds(Math.max(seconds, KEEP_ALIVE_INTERVAL_MIN));
}

/**
 * Applies `Set-Meta-<Name>: <value>` headers to the connection's meta, in order: the name is
 * kept as the backend wrote it, matched case-insensitively against earlier ones, and an
 * empty value deletes it. Returns whether anything changed.
 */
export function applySetMeta(
  meta: Map<string, string>,
  headers: readonly [string, string][],
): boolean {
  let isChanged = false;
  for (const [name, value] of headers) {
    if (name.length <= 9 || name.slice(0, 9).toLowerCase() !== 'set-meta-') continue;
    const key = name.slice(9);
    const lower = key.toLowerCase();
    for (const existing of meta.keys()) {
      if (existing.toLowerCase() === lower) {
        meta.delete(existing);
        isChanged = true;
      }
    }
    if (value !== '') {
      meta.set(key, value);
      isChanged = true;
    }
  }
  return isChanged;
}

/** Whether a backend answer carries the exact events media type (no parameters), as Pushpin checks. */
export function isWsEventsResponse(headers: readonly [string, string][]): boolean {
  return findHeader(headers, 'content-type') === WS_EVENTS_CONTENT_TYPE;
}
