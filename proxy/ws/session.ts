import type { WebSocket } from 'uWebSockets.js';
import type { Logger } from '../../src/log.js';
import type { ChannelSubscriptions } from '../bus/channel-subscriptions.js';
import type { ProxyContext } from '../proxy-context.js';
import type { WsTopics } from './topics.js';

/** Close codes the proxy itself sends to WebSocket clients. */
export const closeCodes = {
  /** To a passthrough backend whose client the proxy cut (limits, failure, drain). */
  goingAway: 1001,
  /** The client is told to come back: the worker is stopping (drain). */
  serviceRestart: 1012,
  /** The client's send queue or read speed broke a bound (`wsBufferMax`). */
  policy: 1008,
  /** A client message over `wsMaxMessageSize`. */
  tooBig: 1009,
  /** The backend asked for something the proxy refuses (more than 5 filters). */
  internal: 1011,
  /** The backend failed, stayed unreachable, or answered with something unusable. */
  badGateway: 1014,
} as const;

/** Codes a close frame (or CLOSE event) may carry; 1005 and 1006 are never on the wire. */
export function isStatusCode(code: number): boolean {
  return code >= 1000 && code <= 4999 && code !== 1005 && code !== 1006;
}

/** What uWS keeps on each client socket: the session that owns it. */
export interface WsUserData {
  session: WsSession;
}

/** One proxied WebSocket; uWS's behaviour callbacks are forwarded to it. */
export interface WsSession {
  /** For the connections gauge. */
  readonly transport: 'ws' | 'ws-over-http';
  onOpen(ws: WebSocket<WsUserData>): void;
  onMessage(message: ArrayBuffer, isBinary: boolean): void;
  onPing(message: ArrayBuffer): void;
  onPong(message: ArrayBuffer): void;
  onDrain(): void;
  onClose(code: number, reason: ArrayBuffer): void;
  /** Worker drain: close the client with 1012 (service restart) and tell the backend. */
  shutdown(): void;
}

/** Bounds and timings every session of a worker uses, from settings. */
export interface WsLimits {
  /** Bytes a socket may have buffered (either direction) before it is closed. */
  bufferMax: number;
  /** Largest client message accepted; bigger ones close the client with 1009. */
  messageMax: number;
  /** WebSocket-over-HTTP transport retries, and the first retry's delay. */
  retryMax: number;
  retryDelayMs: number;
  subscriptionMax: number;
}

/** What the sessions of one worker share. */
export interface WsHost {
  readonly ctx: ProxyContext;
  readonly subscriptions: ChannelSubscriptions;
  /** The worker's uWS topics: one write per item to every unfiltered subscriber. */
  readonly topics: WsTopics;
  readonly log: Logger;
  readonly limits: WsLimits;
  readonly sessions: Set<WsSession>;
  readonly isTls: boolean;
  /** Counts a client closed for reading too slowly. */
  onSlowClient(): void;
}
