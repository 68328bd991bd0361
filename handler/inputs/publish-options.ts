import { addressedConnection } from '../../src/grip/channel-name.js';
import type { PublishItem } from '../../src/grip/publish-types.js';
import type { PublishAsk } from '../receipts/asked-publishes.js';

/*
 * `POST /publish/` query options (README: Direct push and receipts): `receipt` (count per
 * item where it was written), `one` (deliver each item to one listener of its channel, in turn),
 * `ack=<seconds>` (wait for the client's acknowledgement of a publish to one connection),
 * `timeout=<seconds>` (how long the answers are awaited). Without any, the publish is the
 * plain one, answered as Pushpin answers it.
 */

/** The receipt's wait when `timeout` is not given. */
export const receiptWaitDefaultMs = 2_000;
const timeoutRange = { min: 0.01, max: 30 };
const ackRange = { min: 0.05, max: 300 };

/** `ask` undefined: a plain publish. `problem`: the 400 text, naming the field. */
export type PublishOptionsResult =
  { ask?: PublishAsk; problem?: undefined } | { ask?: undefined; problem: string };

export function parsePublishOptions(
  url: string | undefined,
  items: readonly PublishItem[],
): PublishOptionsResult {
  const at = (url ?? '').indexOf('?');
  if (at < 0) return {};
  const query = new URLSearchParams((url ?? '').slice(at + 1));
  const hasReceipt = flag(query, 'receipt');
  const isOne = flag(query, 'one');
  if (typeof hasReceipt === 'string') return { problem: hasReceipt };
  if (typeof isOne === 'string') return { problem: isOne };
  const timeout = seconds(query, 'timeout', timeoutRange);
  const ack = seconds(query, 'ack', ackRange);
  if (typeof timeout === 'string') return { problem: timeout };
  if (typeof ack === 'string') return { problem: ack };
  if (!hasReceipt && !isOne && ack === undefined) {
    if (timeout === undefined) return {};
    return { problem: 'Bad query parameter "timeout": it applies only with receipt, ack or one.' };
  }
  for (const [index, item] of items.entries()) {
    const isAddressed = addressedConnection(item.channel) !== undefined;
    if (isOne && isAddressed) {
      return {
        problem: `Bad query parameter "one": item ${index} is addressed to one connection already (${item.channel}).`,
      };
    }
  }
  if (ack !== undefined) {
    const item = items[0]!;
    if (items.length !== 1 || (!isOne && addressedConnection(item.channel) === undefined)) {
      return {
        problem:
          'Bad query parameter "ack": it needs exactly one item, published to one connection ($connection:<id>) or with one.',
      };
    }
    if (item.id === undefined) {
      return {
        problem:
          'Bad item for "ack": it needs an "id", which the client names in its acknowledgement.',
      };
    }
  }
  const waitMs = timeout === undefined ? receiptWaitDefaultMs : Math.round(timeout * 1000);
  const ackMs = ack === undefined ? 0 : Math.round(ack * 1000);
  return { ask: { hasReceipt: hasReceipt || ack !== undefined, waitMs, ackMs, isOne } };
}

/** true/false, or the problem text. Present without a value means on. */
function flag(query: URLSearchParams, name: string): boolean | string {
  const value = query.get(name);
  if (value === null || value === '0' || value === 'false') return false;
  if (value === '' || value === '1' || value === 'true') return true;
  return `Bad query parameter "${name}": "${value}" is not one of 1, true, 0, false.`;
}

/** Seconds within the range, undefined when absent, or the problem text. */
function seconds(
  query: URLSearchParams,
  name: string,
  range: { min: number; max: number },
): number | undefined | string {
  const value = query.get(name);
  if (value === null) return undefined;
  const number = value.trim() === '' ? NaN : Number(value);
  if (!Number.isFinite(number) || number < range.min || number > range.max) {
    return `Bad query parameter "${name}": "${value}" is not a number of seconds from ${range.min} to ${range.max}.`;
  }
  return number;
}
