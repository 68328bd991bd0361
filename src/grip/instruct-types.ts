/** What a backend response told the proxy to do, from Grip-* headers and/or grip-instruct JSON. */
export interface GripInstruction {
  /** undefined: no hold (deliver the stored response, or page through a next link). */
  hold?: 'response' | 'stream';
  channels: ChannelSubscription[];
  /** Response-hold timeout in seconds, already clamped to >= 5. Default 55. */
  timeout: number;
  keepAlive?: KeepAlive;
  /** Replaces the backend status for the client. */
  status?: { code: number; reason: string };
  nextLink?: { uri: string; timeout: number };
  goneLink?: { uri: string };
  meta: Record<string, string>;
  /** Lower-cased header names to keep; undefined keeps all. */
  exposeHeaders?: string[];
  /**
   * The response the client sees (timeout response of a response hold, initial part of a
   * stream): Grip-* and hop-by-hop headers already removed, status already replaced.
   */
  response: StoredResponse;
}

export interface ChannelSubscription {
  name: string;
  prevId?: string;
  filters: string[];
}

export interface KeepAlive {
  data: Buffer;
  /** Seconds, >= 1. */
  timeout: number;
  mode: 'idle' | 'interval';
}

export interface StoredResponse {
  code: number;
  reason: string;
  headers: [string, string][];
  body: Buffer;
}
