import type { HistogramData } from '../../bench/histogram.js';

/** The client transports the soak holds, each on its own backend path. */
export const transports = ['sse', 'http-stream', 'long-poll', 'ws', 'ws-over-http'] as const;
export type Transport = (typeof transports)[number];

/**
 * One connection's life as its generator saw it, reconciled by the main process against
 * the publish log (tally.ts). Positions are a channel's item sequence numbers (1, 2, ...).
 */
export interface ConnectionRecord {
  transport: Transport;
  channel: number;
  /**
   * Epoch ms the subscription was confirmed: the response head (SSE, HTTP stream), the
   * backend's `ready` message after its subscribe (WebSockets), the first poll's send
   * (long-poll); 0 when it never was.
   */
  confirmedAt: number;
  /** Long-poll: the first position due (its first prev-id + 1). Others: from the log. */
  startSeq?: number;
  /** First and last position received; 0 when none. */
  firstSeq: number;
  lastSeq: number;
  /** Ranges [from, to] between firstSeq and lastSeq never received. */
  gaps: [number, number][];
  /** Last position due: the channel's acknowledged position when the client chose to close. */
  endSeq: number;
  duplicates: number;
  outOfOrder: number;
  /** The server ended the connection (the reason); the record ends at lastSeq. */
  dropped?: string;
}

/** What one transport of a generator did in one interval (counts since the last sample). */
export interface TransportSample {
  opened: number;
  /** Connection attempts that failed (error status, reset, timeout). */
  openFailed: number;
  /** Connections the client closed as planned. */
  closed: number;
  /** Connections the server ended while they should have stayed. */
  dropped: number;
  /** Connections open at the sample (a gauge). */
  open: number;
  /** New positions received (in order or late), duplicates and late ones. */
  received: number;
  duplicates: number;
  outOfOrder: number;
  /** Items naming another channel than the connection's. */
  misrouted: number;
  /** Publish → receipt of each new position. */
  latency: HistogramData;
  /** Failure reasons (open and drop) → count. */
  errors: Record<string, number>;
  /** Long-poll: requests sent, items answered from history (published before their poll). */
  polls: number;
  resumed: number;
  /** Long-poll: history no longer reached the prev-id (the backend was asked with Grip-Last). */
  gapAnswers: number;
}

export interface GeneratorSample {
  transports: Record<Transport, TransportSample>;
  /** Connections that ended since the last sample. */
  records: ConnectionRecord[];
}

export interface GeneratorConfig {
  host: string;
  port: number;
  /** Source addresses for client sockets (each has its own ephemeral ports). */
  sources: string[];
  channels: number;
  /** Connections this generator keeps open, per transport. */
  population: Record<Transport, number>;
  /** Each connection lives a uniformly random time in [lifeMinMs, lifeMaxMs]. */
  lifeMinMs: number;
  lifeMaxMs: number;
  /** Connection attempts in flight at once. */
  openConcurrency: number;
  /** Bound on waiting, at close, for the items published before the close. */
  drainMs: number;
}

export type GeneratorTask =
  | { type: 'start'; config: GeneratorConfig }
  /** The acknowledged position of every channel (index = channel); no reply. */
  | { type: 'acked'; seqs: number[] }
  | { type: 'sample' }
  /** Stop opening, close every connection (waiting for its due items), final sample. */
  | { type: 'finish' };

export interface GeneratorMessage {
  id: number;
  task: GeneratorTask;
}

export interface GeneratorReply {
  id: number;
  sample?: GeneratorSample;
  error?: string;
}
