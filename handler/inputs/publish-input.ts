import type { PublishItem } from '../../src/grip/publish-types.js';

/**
 * Where an input hands each validated item; it never throws back into the input. With
 * Redis it returns a promise that resolves once Redis stored the item and rejects with
 * RedisUnavailableError when it did not.
 */
export type PublishSink = (item: PublishItem) => Promise<void> | void;

/** How a publish ended, for thumbtack_publishes_total{input,outcome}. */
export type PublishOutcome =
  'accepted' | 'invalid' | 'unauthorized' | 'forbidden' | 'too_large' | 'unavailable';

/** Counts `items` publishes (requests, for refusals) with one outcome. */
export type OutcomeCounter = (outcome: PublishOutcome, items?: number) => void;

/**
 * One way publishes reach the handler (HTTP control API, ZeroMQ PULL, ZeroMQ SUB, ...).
 * An input validates what it receives, reports bad input to its sender or its log, and
 * keeps running whatever a sender does.
 */
export interface PublishInput {
  /** Binds or connects; resolves once publishes are accepted. */
  start(): Promise<void>;
  /** Where it listens (the actual address once started), for the ready log. */
  readonly address: string;
  /** Stops accepting and releases its sockets. */
  close(): Promise<void>;
}
