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
  action: 'send' | 'hint' | 'close' | 'refresh';
  code: number;
  /** Standard phrase for `code` when the publisher gave none. */
  reason: string;
  /** In order; repeated names allowed; Grip-* names already removed. */
  headers: [string, string][];
  body: Buffer;
  /** Required subscription content filters, in order (`content-filters`). */
  contentFilters?: string[];
}

export interface HttpStreamFormat {
  action: 'send' | 'close' | 'hint' | 'refresh';
  content: Buffer;
  contentFilters?: string[];
}

export interface WsMessageFormat {
  action: 'send' | 'close' | 'refresh' | 'hint';
  type: 'text' | 'binary' | 'ping' | 'pong';
  content: Buffer;
  /** Close code; undefined sends a close frame without status. */
  code?: number;
  reason?: string;
  contentFilters?: string[];
}
