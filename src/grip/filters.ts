import type { ChannelSubscription } from './instruct-types.js';
import { renderPercentFormat } from './percent-format.js';

/*
 * Delivery and content filters (protocol 2.7), as Pushpin runs them per subscriber: a
 * channel's filters run in the listed order on each item; a delivery filter may drop the
 * item, a content filter rewrites its content, and the first drop or error ends the run.
 *
 * Implemented: skip-self, skip-users, require-sub (delivery) and var-subst (content).
 * Not implemented: build-id, http-check, http-modify. They are treated like the unknown
 * names Pushpin accepts and ignores: they do nothing and do not count as content filters,
 * so an item whose `content-filters` names one of them never matches and is dropped
 * rather than sent unprocessed. `unsupportedFilters` lets the proxy say so in its log.
 */

/** Filter names thumbtack applies, in Pushpin's `Grip-Feature` order. */
export const supportedFilters = ['skip-self', 'skip-users', 'require-sub', 'var-subst'] as const;

/** Filters that rewrite content: a `content-filters` list must equal a channel's list of these. */
const contentFilterNames: ReadonlySet<string> = new Set(['var-subst']);
const supported: ReadonlySet<string> = new Set(supportedFilters);

/** What a hold's filters need, prepared once per instruction (not per delivery). */
export interface SubscriptionFilters {
  /** Channel (as subscribed, route prefix included) → its supported filters, in order. */
  byChannel: ReadonlyMap<string, readonly string[]>;
  /** Channel → its content filters; `content-filters` on an item must equal this. */
  contentByChannel: ReadonlyMap<string, readonly string[]>;
  /** Subscription meta (`Grip-Set-Meta`, instruct `hold.meta`). */
  meta: Readonly<Record<string, string>>;
  /** Channel names as the backend gave them (no route prefix), for `require-sub`. */
  channels: ReadonlySet<string>;
}

/** Why an item is not delivered to one subscriber. */
export interface FilterDrop {
  /** For a debug log line. */
  reason: string;
  /** True when a filter failed (e.g. an unknown variable) rather than chose to drop. */
  isError: boolean;
}

/**
 * Collects a hold's filters from its channels. Returns undefined when no channel names a
 * filter thumbtack applies, so the delivery path can skip filtering with one check.
 */
export function prepareFilters(
  channels: readonly ChannelSubscription[],
  meta: Readonly<Record<string, string>>,
  channelPrefix = '',
): SubscriptionFilters | undefined {
  // Most holds name no filter: they get here once each, so that case allocates nothing.
  if (channels.every((channel) => channel.filters.length === 0)) return undefined;
  let byChannel: Map<string, readonly string[]> | undefined;
  const contentByChannel = new Map<string, readonly string[]>();
  for (const channel of channels) {
    const filters = channel.filters.filter((name) => supported.has(name));
    if (filters.length === 0) continue;
    byChannel ??= new Map();
    byChannel.set(channel.name, filters);
    const content = filters.filter((name) => contentFilterNames.has(name));
    if (content.length > 0) contentByChannel.set(channel.name, content);
  }
  if (!byChannel) return undefined;
  const names = new Set<string>();
  for (const channel of channels) {
    const isPrefixed = channelPrefix !== '' && channel.name.startsWith(channelPrefix);
    names.add(isPrefixed ? channel.name.slice(channelPrefix.length) : channel.name);
  }
  return { byChannel, contentByChannel, meta, channels: names };
}

/** Filter names on the channels that thumbtack does not apply (deduplicated, in order). */
export function unsupportedFilters(channels: readonly ChannelSubscription[]): string[] {
  const out: string[] = [];
  for (const channel of channels) {
    for (const name of channel.filters) {
      if (!supported.has(name) && !out.includes(name)) out.push(name);
    }
  }
  return out;
}

/**
 * Runs one item through a subscriber's filters for its channel. Returns the content to
 * send (the same Buffer when nothing rewrote it) or why the item is dropped.
 *
 * `contentFilters` is the item's `content-filters` for the subscriber's format: when given,
 * the channel's content filters must equal it exactly (names and order), as in Pushpin.
 */
export function applyFilters(
  subscription: SubscriptionFilters | undefined,
  channel: string,
  publishMeta: Readonly<Record<string, string>> | undefined,
  content: Buffer,
  contentFilters?: readonly string[],
): Buffer | FilterDrop {
  if (contentFilters !== undefined) {
    const wanted = subscription?.contentByChannel.get(channel) ?? [];
    if (!isSameList(wanted, contentFilters)) {
      return {
        reason: `content filter mismatch: subscription=${wanted.join(',')} message=${contentFilters.join(',')}`,
        isError: false,
      };
    }
  }
  const filters = subscription?.byChannel.get(channel);
  if (!subscription || !filters) return content;
  let out = content;
  for (const name of filters) {
    switch (name) {
      case 'skip-self': {
        const user = read(subscription.meta, 'user');
        if (user !== '' && user === read(publishMeta, 'sender')) {
          return { reason: 'skip-self: the subscriber sent it', isError: false };
        }
        break;
      }
      case 'skip-users': {
        const user = read(subscription.meta, 'user');
        if (user !== '' && listsUser(read(publishMeta, 'skip_users'), user)) {
          return { reason: 'skip-users: the subscriber is listed', isError: false };
        }
        break;
      }
      case 'require-sub': {
        const required = read(publishMeta, 'require_sub');
        if (required !== '' && !subscription.channels.has(required)) {
          return { reason: `require-sub: not subscribed to '${required}'`, isError: false };
        }
        break;
      }
      case 'var-subst': {
        const result = substituteVariables(out, subscription.meta);
        if (typeof result === 'string') return { reason: `var-subst: ${result}`, isError: true };
        out = result;
        break;
      }
    }
  }
  return out;
}

/** True when `applyFilters` decided against delivering. */
export function isFilterDrop(outcome: Buffer | FilterDrop): outcome is FilterDrop {
  return !Buffer.isBuffer(outcome);
}

/**
 * The var-subst content filter: `%(name)s` becomes the subscription meta value `name`,
 * `%%` becomes `%`; inside the parentheses a backslash escapes the next byte. Returns the
 * new content, or an error message (unknown variable or directive, unterminated field),
 * with Pushpin's wording and byte positions.
 */
export function substituteVariables(
  content: Buffer,
  vars: Readonly<Record<string, string>>,
): Buffer | string {
  return renderPercentFormat(content, substituteVariable, vars);
}

function substituteVariable(
  vars: Readonly<Record<string, string>>,
  type: string,
  arg: Buffer | undefined,
): Buffer | string {
  if (type !== 's') return `Unknown directive '${type}'`;
  if (arg === undefined) return "Directive 's' requires argument";
  const key = arg.toString('utf8');
  if (!Object.hasOwn(vars, key)) return `No such variable '${key}'`;
  return Buffer.from(vars[key]!, 'utf8');
}

/** A meta value, '' when absent (meta objects may come from JSON: own keys only). */
function read(meta: Readonly<Record<string, string>> | undefined, key: string): string {
  return meta !== undefined && Object.hasOwn(meta, key) ? meta[key]! : '';
}

/** `skip_users` is comma-separated; entries are trimmed and empty ones ignored. */
function listsUser(list: string, user: string): boolean {
  if (list === '') return false;
  return list.split(',').some((entry) => entry.trim() === user);
}

function isSameList(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((name, i) => name === b[i]);
}
