import type { LogLine, LogWatcher } from './log-watcher.js';

/**
 * Waits on the handler's documented channel events (README, logging): its debug lines
 * carry `"event": "channel.subscribed"` once a proxy worker's subscription to a channel
 * has reached it (items published from then on reach that worker) and
 * `"event": "channel.unsubscribed"` once a worker stops listening. The process must run
 * with `--log-level debug`. Works on a whole thumbtack or a handler run alone.
 */

export type ChannelEvent = 'channel.subscribed' | 'channel.unsubscribed';

type LogSource = Pick<LogWatcher, 'logs' | 'waitForLog'>;

export interface ChannelEventWait {
  /**
   * Count only lines at or after this index of `logs` (take `logs.length` before the
   * action), for a channel that was subscribed or unsubscribed before.
   */
  since?: number;
  timeoutMs?: number;
}

/** Matches the line for `event` on `channel`. */
export function isChannelEvent(event: ChannelEvent, channel: string) {
  return (line: LogLine): boolean => line['event'] === event && line['channel'] === channel;
}

/** Resolves with the `channel.subscribed` line for `channel` (already written or to come). */
export function waitForSubscribed(
  source: LogSource,
  channel: string,
  options: ChannelEventWait = {},
): Promise<LogLine> {
  return waitForChannelEvent(source, 'channel.subscribed', channel, options);
}

/** Resolves with the `channel.unsubscribed` line for `channel` (already written or to come). */
export function waitForUnsubscribed(
  source: LogSource,
  channel: string,
  options: ChannelEventWait = {},
): Promise<LogLine> {
  return waitForChannelEvent(source, 'channel.unsubscribed', channel, options);
}

function waitForChannelEvent(
  source: LogSource,
  event: ChannelEvent,
  channel: string,
  { since = 0, timeoutMs }: ChannelEventWait,
): Promise<LogLine> {
  const isWanted = isChannelEvent(event, channel);
  return source.waitForLog(
    (line) => isWanted(line) && (since === 0 || source.logs.indexOf(line) >= since),
    timeoutMs,
  );
}
