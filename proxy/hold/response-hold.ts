import {
  applyFilters,
  isFilterDrop,
  prepareFilters,
  type SubscriptionFilters,
} from '../../src/grip/filters.js';
import type { GripInstruction, StoredResponse } from '../../src/grip/instruct-types.js';
import { applyBodyPatch } from '../../src/grip/body-patch.js';
import type { Delivery } from '../../src/ipc/delivery.js';
import type { ResumeAnswer, Subscriber } from '../bus/channel-subscriptions.js';
import type { ForwardedRequest } from '../http/forwarded-request.js';
import { warnUnsupportedFilters, type Hold, type HoldHost } from './hold.js';
import { sendCompleteResponse } from '../http/response-headers.js';
import type { DisconnectReason } from '../worker-stats.js';
import { reconnectDelayMs } from '../drain-schedule.js';
import { routeLog } from '../route-log.js';

/**
 * A long-poll: nothing is sent until an `http-response` item arrives on one of the
 * channels (that response is sent) or the timeout passes (the backend's stored response).
 * A hint, or an item that does not follow the hold's prev-id, makes it retry the request.
 */
export class ResponseHold implements Subscriber, Hold {
  readonly transport = 'http';
  readonly lingers = true;
  private timer: NodeJS.Timeout | undefined;
  private isDone = false;
  /** Channels whose position the backend gave (prev-id): their items must follow on. */
  private readonly prevIds = new Map<string, string>();
  /** Undefined when no channel has a filter: the delivery path then skips filtering. */
  private readonly filters: SubscriptionFilters | undefined;

  constructor(
    private readonly host: HoldHost,
    private readonly request: ForwardedRequest,
    private readonly instruction: GripInstruction,
    readonly since: number,
  ) {
    for (const channel of instruction.channels) {
      if (channel.prevId !== undefined) this.prevIds.set(channel.name, channel.prevId);
    }
    this.filters = prepareFilters(
      instruction.channels,
      instruction.meta,
      request.route.channelPrefix,
      this.prevIds,
    );
  }

  /** Deliver-to-one names the channel's connections by id. */
  get cid(): string | undefined {
    return this.request.connectionId;
  }

  start(): void {
    warnUnsupportedFilters(this.host.log, this.request.route.id, this.instruction.channels);
    this.timer = setTimeout(
      () => this.respond(this.instruction.response, 'timeout'),
      this.instruction.timeout * 1000,
    );
    for (const channel of this.instruction.channels) {
      this.host.subscriptions.add(channel.name, this, channel.prevId);
    }
  }

  /**
   * History answered for a channel the backend gave a prev-id: the first item after it is
   * the answer; a gap history cannot fill goes back to the backend at once (Grip-Last), as
   * Pushpin retries when the channel's last id is not the hold's prev-id.
   */
  resume(_channel: string, answer: ResumeAnswer): void {
    if (answer.kind === 'gap') {
      this.retry();
      return;
    }
    for (const item of answer.items) {
      if (this.isDone) return;
      // A hint published before the request left is answered by the backend's answer.
      if (item.header.response?.action !== 'send' && item.header.time < this.since) continue;
      this.take(item, true);
    }
  }

  follows(delivery: Delivery): boolean {
    const position = this.prevIds.get(delivery.channel);
    return position !== undefined && delivery.header.prevId === position;
  }

  deliver(delivery: Delivery): void {
    this.take(delivery, false);
  }

  /** `isInOrder`: history says the item follows the hold's position, whatever its prev-id. */
  private take(delivery: Delivery, isInOrder: boolean): void {
    const format = delivery.header.response;
    if (!format || this.isDone) return;
    if (format.action !== 'send' && format.action !== 'hint') return; // close/refresh: nothing to do
    const expected = this.prevIds.get(delivery.channel);
    if (!isInOrder && expected !== undefined && delivery.header.prevId !== expected) {
      this.host.stats.drop('sequencing_gap', delivery.channel);
      this.retry(); // a gap: the backend knows what the client missed
      return;
    }
    let body = delivery.payload[format.body] ?? EMPTY;
    if (format.bodyPatch && format.action === 'send') {
      try {
        body = applyBodyPatch(this.instruction.response.body, format.bodyPatch);
      } catch (error) {
        // The publisher's patch does not fit this hold's body: this connection stays held.
        this.host.stats.drop('body_patch', delivery.channel);
        routeLog(this.host.log, this.request.route).warn(
          {
            route: this.request.route.id,
            channel: delivery.channel,
            err: (error as Error).message,
          },
          'body-patch item not delivered to a held response',
        );
        return;
      }
    }
    if (this.filters !== undefined || format.contentFilters !== undefined) {
      // As in Pushpin, filters see every action: a dropped hint does not retry either.
      const outcome = applyFilters(
        this.filters,
        delivery.channel,
        delivery.header.meta,
        body,
        format.contentFilters,
        expected === undefined ? undefined : delivery.header.id,
      );
      if (isFilterDrop(outcome)) {
        this.host.stats.drop('filter', delivery.channel);
        routeLog(this.host.log, this.request.route).debug(
          { route: this.request.route.id, channel: delivery.channel, reason: outcome.reason },
          'item not delivered to a held response',
        );
        return;
      }
      body = outcome;
    }
    if (format.action === 'hint') {
      this.retry();
      return;
    }
    const published = new Set(format.headers.map(([name]) => name.toLowerCase()));
    const headers = this.instruction.response.headers.filter(
      ([name]) => !published.has(name.toLowerCase()),
    );
    for (const [name, value] of format.headers) headers.push([name, toLatin1(value)]);
    this.host.stats.deliveries++;
    this.respond({ code: format.code, reason: format.reason, headers, body }, 'answered');
  }

  abort(): void {
    if (this.isDone) return;
    this.release();
    this.host.stats.disconnect('client');
    this.host.onHoldEnded(this.request);
  }

  /** Answers now with what the backend gave as the timeout response. */
  end(reason: DisconnectReason): void {
    this.respond(this.instruction.response, reason);
  }

  /** Connection lifetime: the client polls again, as after a timeout. */
  recycle(): void {
    this.end('lifetime');
  }

  /** A long-poll's timeout response is its only way to ask: no notice, no grace. */
  sendGoAway(): boolean {
    return false;
  }

  /** The worker is stopping: 503 with Retry-After, so the client polls again elsewhere. */
  drain(): void {
    const retryAfter = String(Math.ceil(reconnectDelayMs() / 1000));
    const response = {
      code: 503,
      reason: 'Service Unavailable',
      headers: [
        ['Content-Type', 'text/plain'],
        ['Retry-After', retryAfter],
      ] as [string, string][],
      body: drainBody,
    };
    this.respond(response, 'drain');
  }

  private retry(): void {
    if (this.isDone) return;
    this.release();
    this.host.retry(this.request, this.prevIds);
  }

  private respond(response: StoredResponse, reason: DisconnectReason): void {
    if (this.isDone) return;
    sendCompleteResponse(this.request.res, response);
    this.release();
    this.host.stats.disconnect(reason);
    this.request.markResponded(response.code, response.body.length);
    this.host.onHoldEnded(this.request);
  }

  private release(): void {
    if (this.isDone) return;
    this.isDone = true;
    clearTimeout(this.timer);
    for (const channel of this.instruction.channels) {
      this.host.subscriptions.remove(channel.name, this);
    }
    this.host.holds.delete(this);
  }
}

const EMPTY = Buffer.alloc(0);
const drainBody = Buffer.from('Service restarting: retry\n');

/** Stored headers are latin1 byte strings (as undici reads them); published ones are text. */
function toLatin1(value: string): string {
  // eslint-disable-next-line no-control-regex
  return /^[\x00-\x7f]*$/.test(value) ? value : Buffer.from(value, 'utf8').toString('latin1');
}
