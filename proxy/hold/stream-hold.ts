import {
  applyFilters,
  filterResponseBody,
  isFilterDrop,
  prepareFilters,
  type SubscriptionFilters,
} from '../../src/grip/filters.js';
import { findStreamHoldProblem } from '../../src/grip/instruct.js';
import type { GripInstruction, KeepAlive } from '../../src/grip/instruct-types.js';
import { preciseNow } from '../../src/ipc/clock.js';
import type { Delivery } from '../../src/ipc/delivery.js';
import type { ResumeAnswer, Subscriber } from '../bus/channel-subscriptions.js';
import type { ForwardedRequest } from '../http/forwarded-request.js';
import { warnRefusedFilters, warnUnsupportedFilters, type Hold, type HoldHost } from './hold.js';
import { writeRelayedHeaders } from '../http/response-headers.js';
import { flushAtTurnEnd } from '../turn-flush.js';
import { CorkSlot } from '../cork-slot.js';
import type { DisconnectReason } from '../worker-stats.js';
import { reconnectDelayMs } from '../drain-schedule.js';
import { routeLog } from '../route-log.js';
import { goAwayNotice } from '../connection-lifetime.js';

const EMPTY = Buffer.alloc(0);
const sseGoAway = Buffer.from(`event: goaway\ndata: ${goAwayNotice}\n\n`);
const noPrevIds: ReadonlyMap<string, string> = new Map();

/** Pushpin retries a failed next-link fetch 5 times, backing off from 1 s. */
const linkRetries = 5;
const linkBackoffMs = 1_000;

/**
 * A held stream: status, headers and the backend's body go out at once (chunked), then
 * every `http-stream` item is appended verbatim until `action: close` or the client leaves.
 * Keep-alive data goes out when the stream is idle (or on an interval, per instruction).
 * With a next link it also pages: the link's body is appended and its instructions replace
 * the current ones, on a gap in prev-ids, a hint, or when the link's timeout passes idle.
 * Without a hold it only pages (no channels), ending when a response has no next link.
 */
export class StreamHold implements Subscriber, Hold {
  /** Corked writes shared by every hold, instead of closures kept per connection. */
  private static readonly chunkWrite = new CorkSlot<StreamHold>((hold) => hold.writeChunk());
  private static readonly queueWrite = new CorkSlot<StreamHold>((hold) => hold.writeQueued());

  since: number;
  readonly transport: 'stream' | 'sse';
  /** The backend's answer, until start() has sent it: a hold may last hours. */
  private initial: GripInstruction | undefined;
  /** The status the client got, for the access line. */
  private readonly code: number;
  /**
   * The channels the current instructions subscribe to, by name only: the parsed
   * subscriptions (filters, prev-id, an array sized for growth) are not kept for hours.
   */
  private channels: readonly string[] = [];
  private keepAlive: KeepAlive | undefined;
  private nextLink: GripInstruction['nextLink'];
  private isHolding = false;
  /** Channels whose position the backend gave; undefined when none did. */
  private prevIds: Map<string, string> | undefined;
  /** Undefined when no channel has a filter: the delivery path then skips filtering. */
  private filters: SubscriptionFilters | undefined;
  private hasWarnedFilters = false;
  private keepAliveTimer: NodeJS.Timeout | undefined;
  private linkTimer: NodeJS.Timeout | undefined;
  private lastWriteAt = Date.now();
  private isDone = false;
  private isFollowing = false;
  private linkFailures = 0;
  /** Bytes handed to uWS since it last reported the socket drained. */
  private backlog = 0;
  private isBackpressured = false;
  private bytes = 0;
  private chunk: Buffer = EMPTY;
  /** Items delivered in this event-loop turn, written together when the turn ends. */
  private queued: Buffer[] | undefined;

  constructor(
    private readonly host: HoldHost,
    private readonly request: ForwardedRequest,
    instruction: GripInstruction,
    since: number,
    /** sse_resume: the client's Last-Event-ID, for channels the backend gave no prev-id. */
    private readonly lastEventId?: string,
  ) {
    this.initial = instruction;
    this.code = instruction.response.code;
    this.since = since;
    this.transport = isEventStream(instruction.response.headers) ? 'sse' : 'stream';
  }

  /** Deliver-to-one names the channel's connections by id. */
  get cid(): string | undefined {
    return this.request.connectionId;
  }

  start(): void {
    const instruction = this.initial!;
    this.initial = undefined;
    const { response } = instruction;
    const { res } = this.request;
    // Pushpin filters a non-empty initial body only (a next link's body always).
    const body =
      response.body.length > 0
        ? filterResponseBody(instruction.channels, instruction.meta, response.body)
        : response.body;
    res.cork(() => {
      res.writeStatus(`${response.code} ${response.reason}`);
      writeRelayedHeaders(res, response.headers);
      // uWS 20.30 cannot send a head without body bytes. Keep-alive data is by definition
      // safe to insert anywhere, so an empty initial body starts with it: the client sees
      // the head now, not a keep-alive period later. Without keep-alive, it waits for data.
      const keepAlive = instruction.keepAlive;
      if (typeof body === 'string') return; // the head goes out with end()
      this.write(body.length === 0 && keepAlive ? keepAlive.data : body);
    });
    if (typeof body === 'string') {
      this.endOnFilterError(body);
      return;
    }
    const problem = findStreamHoldProblem(instruction);
    if (problem) {
      routeLog(this.host.log, this.request.route).warn(
        { route: this.request.route.id, problem },
        'ending a stream hold',
      );
      this.end('error');
      return;
    }
    this.apply(instruction);
  }

  /** Inside a cork (chunkWrite, or a cork the caller holds). */
  private writeChunk(): void {
    const { res } = this.request;
    if (!res.write(this.chunk) && !this.isBackpressured) {
      this.isBackpressured = true;
      res.onWritable(() => this.onWritable());
    }
  }

  /** Inside a cork (queueWrite). */
  private writeQueued(): void {
    for (const chunk of this.queued!) {
      this.chunk = chunk;
      this.writeChunk();
    }
    this.chunk = EMPTY;
  }

  private onWritable(): boolean {
    this.isBackpressured = false;
    this.backlog = 0;
    return true;
  }

  follows(delivery: Delivery): boolean {
    const position = this.prevIds?.get(delivery.channel);
    return position !== undefined && delivery.header.prevId === position;
  }

  /**
   * History answered for a channel the backend gave a prev-id: the items after it go out
   * now, in order; a gap history cannot fill is fetched from the next link (recovery).
   */
  resume(channel: string, answer: ResumeAnswer): void {
    if (answer.kind === 'gap') {
      if (this.prevIds?.has(channel) || !this.lastEventId) {
        this.followNextLink();
        return;
      }
      // sse_resume: the backend gave no position to catch up from; the client is told
      // (README, Resume) rather than left to believe it missed nothing.
      const gap = JSON.stringify({ channel: this.unprefixed(channel), 'last-id': answer.lastId });
      this.request.res.cork(() => this.write(Buffer.from(`event: gap\ndata: ${gap}\n\n`)));
      return;
    }
    for (const item of answer.items) {
      // A hint or close published before the request left is answered by the backend's answer.
      if (item.header.stream?.action !== 'send' && item.header.time < this.since) continue;
      this.take(item, true);
    }
  }

  deliver(delivery: Delivery): void {
    this.take(delivery, false);
  }

  /** `isInOrder`: history says the item follows the hold's position, whatever its prev-id. */
  private take(delivery: Delivery, isInOrder: boolean): void {
    const format = delivery.header.stream;
    if (!format || this.isDone || this.isFollowing) return; // items during a fetch come with it
    if (format.action === 'refresh') return;
    const { channel } = delivery;
    const id = delivery.header.id;
    const expected = format.action === 'send' ? this.prevIds?.get(channel) : undefined;
    // The id this item moves its channel's position to, if it does (build-id writes it).
    const itemId = expected === undefined ? undefined : id;
    if (!isInOrder && expected !== undefined && delivery.header.prevId !== expected) {
      this.host.stats.drop('sequencing_gap', channel);
      this.followNextLink(); // a gap: the next link's answer covers what was missed
      return;
    }
    let content = delivery.payload[format.content] ?? EMPTY;
    if (this.filters !== undefined || format.contentFilters !== undefined) {
      // As in Pushpin, filters see every action (a dropped close does not close).
      const outcome = applyFilters(
        this.filters,
        channel,
        delivery.header.meta,
        content,
        format.contentFilters,
        itemId,
      );
      if (isFilterDrop(outcome)) {
        // A deliberate drop still moves the channel's position on; a filter error does not.
        if (!outcome.isError && itemId !== undefined) this.prevIds!.set(channel, itemId);
        this.host.stats.drop('filter', channel);
        routeLog(this.host.log, this.request.route).debug(
          { route: this.request.route.id, channel, reason: outcome.reason },
          'item not delivered to a stream',
        );
        return;
      }
      content = outcome;
    }
    if (format.action === 'close') {
      this.end('backend_close');
      return;
    }
    if (format.action === 'hint') {
      this.followNextLink();
      return;
    }
    if (itemId !== undefined) this.prevIds!.set(channel, itemId);
    this.armLinkTimer();
    if (content.length === 0) return;
    this.host.stats.deliveries++;
    if (this.queued) {
      this.queued.push(content);
    } else {
      this.queued = [content];
      flushAtTurnEnd(this);
    }
  }

  /**
   * Writes the items queued in this turn in one cork: one send per connection however
   * many items a burst brought (a ZeroMQ burst arrives in one turn). Everything else that
   * writes flushes first, so the byte order is the order of delivery.
   */
  flush(): void {
    const queued = this.queued;
    if (!queued || this.isDone) return;
    let length = 0;
    for (const chunk of queued) length += chunk.length;
    // A turn may bring many items: refuse them rather than buffer past the limit.
    if (this.isBackpressured && this.backlog + length > this.host.streamBufferMax) {
      this.queued = undefined;
      this.cutOff(length);
      return;
    }
    StreamHold.queueWrite.run(this.request.res, this);
    this.queued = undefined;
    this.afterWrite(length);
  }

  abort(): void {
    this.finish('client');
  }

  end(reason: DisconnectReason): void {
    if (this.isDone) return;
    this.flush();
    if (this.isDone) return; // the flush found a client too slow and cut it
    this.request.res.cork(() => this.request.res.end());
    this.finish(reason);
  }

  /** Takes over channels, prev-ids, keep-alive and next link from (new) instructions. */
  private apply(next: GripInstruction): void {
    const isFirst = this.channels.length === 0;
    if (!isFirst) {
      const wanted = new Set(next.channels.map((c) => c.name));
      for (const channel of this.channels) {
        if (!wanted.has(channel)) this.host.subscriptions.remove(channel, this);
      }
    }
    this.prevIds = undefined;
    for (const channel of next.channels) {
      if (channel.prevId !== undefined) {
        (this.prevIds ??= new Map()).set(channel.name, channel.prevId);
      }
    }
    this.channels = next.channels.map((channel) => channel.name);
    this.keepAlive = next.keepAlive;
    this.nextLink = next.nextLink;
    this.isHolding = next.hold !== undefined;
    this.filters = prepareFilters(
      next.channels,
      next.meta,
      this.request.route.channelPrefix,
      this.prevIds,
    );
    if (!this.hasWarnedFilters) {
      this.hasWarnedFilters = warnUnsupportedFilters(
        this.host.log,
        this.request.route.id,
        next.channels,
      );
    }
    // The first instructions' prev-ids resume from history; a next link's answer is the
    // backend's own catch-up.
    for (const channel of next.channels) {
      const from = isFirst ? (channel.prevId ?? this.lastEventId) : undefined;
      this.host.subscriptions.add(channel.name, this, from);
    }
    clearTimeout(this.keepAliveTimer);
    this.armKeepAlive();
    if (!next.nextLink) {
      clearTimeout(this.linkTimer);
      if (!next.hold) this.end('backend_close'); // paging is over
      return;
    }
    if (!next.hold) this.followNextLink();
    else this.armLinkTimer();
  }

  private followNextLink(): void {
    const link = this.nextLink;
    if (!link || this.isDone || this.isFollowing) return;
    this.isFollowing = true;
    clearTimeout(this.linkTimer);
    this.host.followNextLink(this.request, link.uri, this.prevIds ?? noPrevIds).then(
      ({ instruction, body }) => {
        this.isFollowing = false;
        if (this.isDone) return;
        this.linkFailures = 0;
        this.flush();
        if (this.isDone) return;
        const refused = instruction
          ? warnRefusedFilters(this.host.log, this.request.route.id, instruction.channels)
          : [];
        if (refused.length > 0) {
          this.end('error'); // the client has its head already: too late for a 502
          return;
        }
        const filtered = instruction
          ? filterResponseBody(instruction.channels, instruction.meta, body)
          : body;
        if (typeof filtered === 'string') {
          this.endOnFilterError(filtered);
          return;
        }
        if (filtered.length > 0) this.request.res.cork(() => this.write(filtered));
        if (!instruction) {
          this.end('backend_close'); // neither hold nor next link: the response is complete
          return;
        }
        if (instruction.hold === 'response') {
          routeLog(this.host.log, this.request.route).warn(
            { route: this.request.route.id },
            'Next link returned non-stream hold.',
          );
          this.end('error');
          return;
        }
        this.since = preciseNow(); // the handler's clock (src/ipc/clock)
        this.apply(instruction);
      },
      (err: unknown) => {
        this.isFollowing = false;
        if (this.isDone) return;
        this.linkFailures++;
        routeLog(this.host.log, this.request.route).warn(
          {
            route: this.request.route.id,
            uri: link.uri,
            err: (err as Error).message,
            attempt: this.linkFailures,
          },
          'next link request failed',
        );
        if (this.linkFailures > linkRetries) {
          this.end('error');
          return;
        }
        const delay = linkBackoffMs * 2 ** (this.linkFailures - 1) + Math.random() * 1000;
        this.linkTimer = setTimeout(() => this.followNextLink(), delay);
      },
    );
  }

  private unprefixed(channel: string): string {
    const prefix = this.request.route.channelPrefix;
    return channel.startsWith(prefix) ? channel.slice(prefix.length) : channel;
  }

  /** Pushpin ends the stream when a backend body fails its response filters. */
  private endOnFilterError(reason: string): void {
    routeLog(this.host.log, this.request.route).warn(
      { route: this.request.route.id, err: reason },
      'filter error in a backend response; ending the stream',
    );
    this.end('error');
  }

  /** Idle recovery: refetch the next link when no item arrived for its timeout. */
  private armLinkTimer(): void {
    const link = this.nextLink;
    if (!link || !this.isHolding) return;
    clearTimeout(this.linkTimer);
    this.linkTimer = setTimeout(() => this.followNextLink(), link.timeout * 1000);
  }

  private write(data: Buffer): void {
    this.chunk = data;
    this.writeChunk();
    this.chunk = EMPTY;
    this.afterWrite(data.length);
  }

  private afterWrite(length: number): void {
    this.bytes += length;
    this.lastWriteAt = Date.now();
    if (!this.isBackpressured) return;
    this.backlog += length;
    if (this.backlog > this.host.streamBufferMax) this.cutOff(0);
  }

  /** `refused`: bytes not written because they would have passed the limit. */
  private cutOff(refused: number): void {
    this.host.onSlowClient();
    routeLog(this.host.log, this.request.route).warn(
      {
        route: this.request.route.id,
        backlog: this.backlog,
        refused,
        limit: this.host.streamBufferMax,
      },
      'disconnecting a stream client that reads too slowly',
    );
    this.host.stats.drop('slow_client', this.channels[0]);
    this.finish('slow_client');
    this.request.res.close();
  }

  private armKeepAlive(): void {
    const keepAlive = this.keepAlive;
    if (!keepAlive || this.isDone) return;
    const periodMs = keepAlive.timeout * 1000;
    const elapsed = keepAlive.mode === 'idle' ? Date.now() - this.lastWriteAt : 0;
    this.keepAliveTimer = setTimeout(() => this.onKeepAlive(), Math.max(0, periodMs - elapsed));
  }

  private onKeepAlive(): void {
    const keepAlive = this.keepAlive;
    this.flush();
    if (this.isDone || !keepAlive) return;
    // Idle mode: the timer is not reset on every write (that would cost a timer per item
    // per connection); it checks here whether the stream was quiet for a whole period.
    if (
      keepAlive.mode === 'interval' ||
      Date.now() - this.lastWriteAt >= keepAlive.timeout * 1000 - 5
    ) {
      this.chunk = keepAlive.data;
      StreamHold.chunkWrite.run(this.request.res, this);
      this.afterWrite(keepAlive.data.length);
    }
    this.armKeepAlive();
  }

  drain(): void {
    this.askToReconnect('drain');
  }

  recycle(): void {
    this.askToReconnect('lifetime');
  }

  /** SSE only: an `event: goaway` that Zuul Push's clients answer by reconnecting. */
  sendGoAway(): boolean {
    if (this.isDone || this.transport !== 'sse') return false;
    this.writeAfterQueued(sseGoAway);
    return !this.isDone;
  }

  /** SSE clients get a `retry:` hint first, so that they reconnect after a random delay. */
  private askToReconnect(reason: 'drain' | 'lifetime'): void {
    if (this.isDone) return;
    if (this.transport === 'sse') {
      this.writeAfterQueued(Buffer.from(`retry: ${reconnectDelayMs()}\n\n`));
    }
    this.end(reason);
  }

  /** Writes `data` now, after what is queued for this turn (a flush can end a slow client). */
  private writeAfterQueued(data: Buffer): void {
    this.flush();
    if (!this.isDone) this.request.res.cork(() => this.write(data));
  }

  private finish(reason: DisconnectReason): void {
    if (this.isDone) return;
    this.isDone = true;
    this.host.stats.disconnect(reason);
    this.queued = undefined;
    clearTimeout(this.keepAliveTimer);
    clearTimeout(this.linkTimer);
    for (const channel of this.channels) {
      this.host.subscriptions.remove(channel, this);
    }
    this.host.holds.delete(this);
    this.request.markResponded(this.code, this.bytes);
    this.host.onHoldEnded(this.request);
  }
}

function isEventStream(headers: readonly (readonly [string, string])[]): boolean {
  return headers.some(
    ([name, value]) =>
      name.toLowerCase() === 'content-type' && value.toLowerCase().startsWith('text/event-stream'),
  );
}
