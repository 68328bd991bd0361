import { refusedFilters, unsupportedFilters } from '../../src/grip/filters.js';
import type { ChannelSubscription, GripInstruction } from '../../src/grip/instruct-types.js';
import type { Logger } from '../../src/log.js';
import type { Addressable, ChannelSubscriptions } from '../bus/channel-subscriptions.js';
import type { ForwardedRequest } from '../http/forwarded-request.js';
import type { DisconnectReason, WorkerStats } from '../worker-stats.js';
import type { Recyclable } from '../connection-lifetime.js';

/** A hold that the worker can end on drain, or at its connection lifetime. */
export interface Hold extends Recyclable, Addressable {
  /** For the connections gauge: a long-poll is `http`. */
  readonly transport: 'http' | 'stream' | 'sse';
  start(): void;
  /** Finish the response now as gracefully as its kind allows. */
  end(reason: DisconnectReason): void;
  /** Worker drain: tell the client to come back (SSE `retry:`, 503 Retry-After), then end. */
  drain(): void;
  /** The client is gone: release everything without writing. */
  abort(): void;
}

/** What holds share in one worker, and the backend round trips they may ask for. */
export interface HoldHost {
  readonly subscriptions: ChannelSubscriptions;
  readonly holds: Set<Hold>;
  readonly log: Logger;
  readonly streamBufferMax: number;
  readonly stats: WorkerStats;
  /** Counts slow clients cut off at the buffer bound. */
  onSlowClient(): void;
  /**
   * Response hold retry: re-sends the client's request with `Grip-Last` for the given
   * channels and answers the client with whatever comes back (possibly a new hold).
   */
  retry(request: ForwardedRequest, prevIds: ReadonlyMap<string, string>): void;
  /** GETs a next link through the request's route; resolves to the new instructions. */
  followNextLink(
    request: ForwardedRequest,
    uri: string,
    prevIds: ReadonlyMap<string, string>,
  ): Promise<{ instruction: GripInstruction | undefined; body: Buffer }>;
  /** The client connection is over (answered, ended or gone): fires the gone link, if any. */
  onHoldEnded(request: ForwardedRequest): void;
}

/**
 * Says once per hold which unknown filters its channels name (typos, other proxies'
 * filters): they are ignored, as in Pushpin, and items whose `content-filters` name them
 * are not delivered. Returns whether it logged.
 */
export function warnUnsupportedFilters(
  log: Logger,
  route: string,
  channels: readonly ChannelSubscription[],
): boolean {
  const names = unsupportedFilters(channels);
  if (names.length === 0) return false;
  log.warn({ route, filters: names }, 'ignoring GRIP filters thumbtack does not implement');
  return true;
}

/**
 * Says which filters thumbtack refuses to hold with (http-check, http-modify) when the
 * instructions name any; the hold must then be refused. Returns their names (empty: none).
 */
export function warnRefusedFilters(
  log: Logger,
  route: string,
  channels: readonly ChannelSubscription[],
): string[] {
  const names = refusedFilters(channels);
  if (names.length > 0) {
    log.warn(
      { route, filters: names },
      'refusing a hold: thumbtack does not implement these GRIP filters',
    );
  }
  return names;
}
