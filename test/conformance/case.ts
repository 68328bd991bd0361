import type { FrameSpec } from './frame.js';

/** What a case does on the connection, in order. */
export type Step =
  /** One frame; frames in a row go out back to back. */
  | FrameSpec
  /** One frame written `size` bytes at a time, each write in its own event-loop turn. */
  | { chop: FrameSpec; size: number }
  /** Bytes as they are (a frame header no encoder would write). */
  | { raw: Buffer }
  | { pauseMs: number }
  /** Waits (bounded) until the server has sent this many events, so later frames follow them. */
  | { awaitEvents: number }
  /** The client goes away without a close frame. */
  | { drop: true };

/** A message or pong the server must send, in order. */
export interface ExpectedEvent {
  kind: 'text' | 'binary' | 'pong';
  payload: Buffer;
}

/** How the connection must end (RFC 6455). */
export type ExpectedEnd =
  /** It stays open: the runner then sends close 1000, which the server must answer with 1000. */
  | { kind: 'open' }
  /**
   * The server sends a close frame with one of `codes` (undefined: an empty payload) and
   * closes the TCP connection: its answer to the case's own close, or failing the connection.
   */
  | { kind: 'close'; codes: (number | undefined)[]; reason?: string }
  /** The client dropped the connection: nothing to expect of the client side. */
  | { kind: 'dropped' };

/** What the backend must see: what reached it and how its session ended. */
export interface ExpectedBackend {
  /** Default: the case's expected text and binary events (the backend echoes). */
  messages?: ExpectedEvent[];
  /** A close code (1005: a close without status) or `disconnect`; default: any end. */
  end?: number | 'disconnect';
  /** The close reason the backend must get with `end`. */
  reason?: string;
}

export interface ConformanceCase {
  /** Autobahn-style number: `<group>.<n>[.<m>]`. */
  id: string;
  title: string;
  /** The RFC 6455 requirement, with its section. */
  rfc: string;
  steps: Step[];
  events: ExpectedEvent[];
  end: ExpectedEnd;
  backend?: ExpectedBackend;
}

export interface CaseGroup {
  id: number;
  title: string;
  cases: ConformanceCase[];
}
