import type { ChannelSubscription } from './instruct-types.js';
import { buildId, type ChannelIds } from './id-format.js';
import { renderPercentFormat } from './percent-format.js';

/*
 * Delivery and content filters (protocol 2.7), as Pushpin runs them per subscriber: a
 * channel's filters run in the listed order on each item; a delivery filter may drop the
 * item, a content filter rewrites its content, and the first drop or error ends the run.
 *
 * Implemented: skip-self, skip-users, require-sub (delivery), build-id and var-subst
 * (content). build-id also rewrites backend response bodies (`filterResponseBody`), as in
 * Pushpin. Refused: http-check and http-modify (Pushpin 2.x only, each a POST per item to
 * the backend): the proxy answers a hold naming them with 502 (`refusedFilters`) rather
 * than deliver items those filters would have dropped or rewritten. Unknown names are
 * accepted and ignored, as in Pushpin; they do not count as content filters, so an item
 * whose `content-filters` names one never matches and is dropped rather than sent
 * unprocessed. `unsupportedFilters` lets the proxy say so in its log.
 */

/** Filter names thumbtack applies, in Pushpin's `Grip-Feature` order. */
export const supportedFilters = [
  'skip-self',
  'skip-users',
  'require-sub',
  'build-id',
  'var-subst',
] as const;

/** Filters that rewrite content: a `content-filters` list must equal a channel's list of these. */
const contentFilterNames: ReadonlySet<string> = new Set(['build-id', 'var-subst']);
const supported: ReadonlySet<string> = new Set(supportedFilters);
/** Pushpin 2.x's network filters: a hold naming one is refused, not silently half-served. */
const refused: ReadonlySet<string> = new Set(['http-check', 'http-modify']);
const noPositions: ReadonlyMap<string, string> = new Map();

/** What a hold's filters need, prepared once per instruction (not per delivery). */
export interface SubscriptionFilters {
  /** Channel (as subscribed, route prefix included) → its supported filters, in order. */
  byChannel: ReadonlyMap<string, readonly string[]>;
  /** Channel → its content filters; `content-filters` on an item must equal this. */
  contentByChannel: ReadonlyMap<string, readonly string[]>;
  /** Subscription meta (`Grip-Set-Meta`, instruct `hold.meta`). */
  meta: Readonly<Record<string, string>>;
  /**
   * Channel names as the backend gave them (no route prefix, as `require-sub` and build-id's
   * `id_format` name them) → as subscribed.
   */
  channels: ReadonlyMap<string, string>;
  /**
   * Subscribed channel → its current position (prev-id), for build-id. The hold's own map,
   * read at each delivery: the hold moves positions on as items arrive.
   */
  positions: ReadonlyMap<string, string>;
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
  positions: ReadonlyMap<string, string> = noPositions,
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
  const names = new Map<string, string>();
  for (const channel of channels) {
    const isPrefixed = channelPrefix !== '' && channel.name.startsWith(channelPrefix);
    names.set(isPrefixed ? channel.name.slice(channelPrefix.length) : channel.name, channel.name);
  }
  return { byChannel, contentByChannel, meta, channels: names, positions };
}

/** Filter names on the channels that thumbtack does not apply (deduplicated, in order). */
export function unsupportedFilters(channels: readonly ChannelSubscription[]): string[] {
  return collectFilters(channels, (name) => !supported.has(name) && !refused.has(name));
}

/** Filter names on the channels that thumbtack refuses to hold with (deduplicated, in order). */
export function refusedFilters(channels: readonly ChannelSubscription[]): string[] {
  return collectFilters(channels, (name) => refused.has(name));
}

function collectFilters(
  channels: readonly ChannelSubscription[],
  isWanted: (name: string) => boolean,
): string[] {
  const out: string[] = [];
  for (const channel of channels) {
    for (const name of channel.filters) {
      if (isWanted(name) && !out.includes(name)) out.push(name);
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
 * `itemId` is the item's id when it moves its channel's position on (the channel has a
 * prev-id): build-id writes it as that channel's id.
 */
export function applyFilters(
  subscription: SubscriptionFilters | undefined,
  channel: string,
  publishMeta: Readonly<Record<string, string>> | undefined,
  content: Buffer,
  contentFilters?: readonly string[],
  itemId?: string,
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
      case 'build-id': {
        const ids = new DeliveryIds(subscription, channel, itemId);
        const result = buildId(out, subscription.meta, ids);
        if (typeof result === 'string') return { reason: `build-id: ${result}`, isError: true };
        out = result;
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

/**
 * The channel ids build-id renders for one delivery: each channel's current position,
 * and for the item's own channel the item's id. Pushpin 1.36 moves the position on before
 * filtering, so an event carries its own id; current Pushpin source (async filters, since
 * 1.41) filters first and would write the previous event's id, which makes a client that
 * resumes from it receive that event twice.
 */
class DeliveryIds implements ChannelIds {
  constructor(
    private readonly subscription: SubscriptionFilters,
    private readonly channel: string,
    private readonly itemId: string | undefined,
  ) {}

  get(name: string): string | undefined {
    const subscribed = this.subscription.channels.get(name);
    if (subscribed === undefined) return undefined;
    const position = this.subscription.positions.get(subscribed);
    if (subscribed === this.channel && position !== undefined && this.itemId !== undefined) {
      return this.itemId;
    }
    return position;
  }
}

/**
 * A backend response body (initial, or a next link's) as the client gets it: Pushpin runs
 * it through build-id when any channel of the instructions has that filter, without
 * channel ids (so `%%` becomes `%`, and a bare `%I` is an error). Returns the body or an
 * error message (`build-id: ...`).
 */
export function filterResponseBody(
  channels: readonly ChannelSubscription[],
  meta: Readonly<Record<string, string>>,
  body: Buffer,
): Buffer | string {
  if (!channels.some((channel) => channel.filters.includes('build-id'))) return body;
  const out = buildId(body, meta, undefined);
  return typeof out === 'string' ? `build-id: ${out}` : out;
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
