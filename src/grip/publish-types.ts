import type { BodyPatchOperation } from './body-patch.js';

/*
 * Each list's order is also the code its values travel as on the internal bus
 * (src/ipc/delivery.ts): add new values at the end.
 */

/** What a published format asks of the connections it reaches. */
export const publishActions = ['send', 'hint', 'close', 'refresh'] as const;
export type PublishAction = (typeof publishActions)[number];

/** The kinds of WebSocket message a publish or a keep-alive sends. */
export const wsMessageTypes = ['text', 'binary', 'ping', 'pong'] as const;
export type WsMessageType = (typeof wsMessageTypes)[number];

export function isPublishAction(value: unknown): value is PublishAction {
  return (publishActions as readonly unknown[]).includes(value);
}

export function isWsMessageType(value: unknown): value is WsMessageType {
  return (wsMessageTypes as readonly unknown[]).includes(value);
}

/** A validated publish item, as every input (HTTP, ZeroMQ, Redis) yields it. */
export interface PublishItem {
  channel: string;
  id?: string;
  prevId?: string;
  meta?: Record<string, string>;
  noSeq: boolean;
  /** Publisher-declared size, only for stats accounting (Pushpin's `size`). */
  size?: number;
  formats: PublishFormats;
}

export interface PublishFormats {
  httpResponse?: HttpResponseFormat;
  httpStream?: HttpStreamFormat;
  wsMessage?: WsMessageFormat;
}

export interface HttpResponseFormat {
  action: PublishAction;
  code: number;
  /** Standard phrase for `code` when the publisher gave none. */
  reason: string;
  /** In order; repeated names allowed; Grip-* names already removed. */
  headers: [string, string][];
  body: Buffer;
  /** `body-patch`: applied to the held response's body instead of `body` (empty then). */
  bodyPatch?: BodyPatchOperation[];
  /** Required subscription content filters, in order (`content-filters`). */
  contentFilters?: string[];
}

export interface HttpStreamFormat {
  action: PublishAction;
  content: Buffer;
  contentFilters?: string[];
}

export interface WsMessageFormat {
  action: PublishAction;
  type: WsMessageType;
  content: Buffer;
  /** Close code; undefined sends a close frame without status. */
  code?: number;
  reason?: string;
  contentFilters?: string[];
}
