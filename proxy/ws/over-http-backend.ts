import { randomUUID } from 'node:crypto';
import { WsEventsError } from '../../src/errors.js';
import { decodeWsEvents, encodeWsEvents, type WsEvent } from '../../src/grip/ws-events.js';
import {
  applySetMeta,
  findHeader,
  isWsEventsResponse,
  parseKeepAliveInterval,
  WS_EVENTS_CONTENT_TYPE,
} from '../../src/grip/ws-over-http.js';
import type { Route, RouteTarget } from '../../src/routes/route.js';
import type { ClientRequestInfo } from '../http/request-headers.js';
import {
  requestBackend,
  requestTarget,
  type BackendOutcome,
  type BackendReply,
  type BackendRequest,
} from '../backend/backend-request.js';
import type { TargetCursor } from '../backend/target-cursor.js';
import type { WsHost } from './session.js';
import { replayedHeaders } from './upgrade-request.js';
import { preciseNow } from '../../src/ipc/clock.js';
import { clampTimerMs } from '../../src/timer-limit.js';
import { routeLog } from '../route-log.js';

/** Pushpin's limit on an answer body after which the connection fails. */
const replyBodyMax = 1_000_000;
const OPEN_BODY = encodeWsEvents([{ type: 'OPEN' }]);

/** What one request after the handshake came to. */
export type WsExchange = { events: WsEvent[] } | { failure: string };

/**
 * The backend half of a WebSocket-over-HTTP session (protocol 4.1, 4.4, 4.5): the target,
 * the connection id, the headers every request carries (the client's handshake replayed,
 * a fresh Grip-Sig, Meta-* set by the backend), and transport retries with backoff.
 */
export class WsOverHttpBackend {
  readonly cid = randomUUID();
  /** From `Keep-Alive-Interval`, in seconds; 0: no keep-alive requests. */
  keepAliveSeconds = 0;
  /** When the latest request (or retry) left: publishes from then on belong to its answer. */
  requestStartedAt = 0;
  private readonly meta = new Map<string, string>();
  private baseHeaders: string[];
  private retries = 0;
  private retryTimer: NodeJS.Timeout | undefined;
  private wakeRetry: (() => void) | undefined;
  private isClosed = false;

  constructor(
    private readonly host: WsHost,
    private readonly route: Route,
    private readonly client: ClientRequestInfo,
    private readonly path: string,
    /** The session's target once OPEN is answered; until then, failover moves it. */
    readonly targets: TargetCursor,
  ) {
    this.baseHeaders = replayedHeaders(host, route, targets.target, client);
  }

  get target(): RouteTarget {
    return this.targets.target;
  }

  /** The OPEN request; while no connection can be made, the route's next targets are tried. */
  async open(): Promise<BackendOutcome> {
    this.requestStartedAt = preciseNow();
    const outcome = await requestBackend(
      this.host.ctx.pools,
      this.targets,
      this.request(OPEN_BODY, (target) =>
        replayedHeaders(this.host, this.route, target, this.client),
      ),
      (target, reason) =>
        routeLog(this.host.log, this.route).warn(
          { route: this.route.id, target, err: reason },
          'backend unreachable, trying the next target',
        ),
    );
    this.baseHeaders = replayedHeaders(this.host, this.route, this.target, this.client);
    return outcome;
  }

  /** Keeps what an answer sets for later requests: Set-Meta-* and Keep-Alive-Interval. */
  applyAnswer(reply: BackendReply): void {
    const keepAlive = parseKeepAliveInterval(reply.headers);
    if (keepAlive !== undefined) this.keepAliveSeconds = keepAlive;
    applySetMeta(this.meta, reply.headers);
  }

  /**
   * A request after the handshake. Failures the backend cannot have seen are retried with
   * `wsRetryDelay × 2^n + jitter` up to `wsRetryMax` times (not for the final request, which
   * is best effort); nothing else is sent meanwhile. The answer must be 200 with events.
   */
  async exchange(body: Buffer, isFinal: boolean): Promise<WsExchange> {
    for (;;) {
      const outcome = await this.post(body);
      if (this.isClosed) return { failure: 'session ended' };
      if (!outcome.isOk) {
        const { retryMax } = this.host.limits;
        if (!isFinal && outcome.isRetryable && this.retries < retryMax) {
          await this.backoff(outcome.reason);
          if (this.isClosed) return { failure: 'session ended' };
          continue;
        }
        return {
          failure:
            this.retries > 0
              ? `backend unreachable after ${this.retries} retries: ${outcome.reason}`
              : `backend request failed: ${outcome.reason}`,
        };
      }
      this.retries = 0;
      const { reply } = outcome;
      if (reply.code !== 200 || !isWsEventsResponse(reply.headers)) {
        const type = findHeader(reply.headers, 'content-type') ?? 'none';
        return { failure: `backend answered ${reply.code} with content type ${type}` };
      }
      let events: WsEvent[];
      try {
        events = decodeWsEvents(reply.body);
      } catch (err) {
        if (!(err instanceof WsEventsError)) throw err;
        return { failure: `invalid events in the backend answer: ${err.message}` };
      }
      this.applyAnswer(reply);
      return { events };
    }
  }

  /** A request whose answer does not matter (DISCONNECT to a backend nobody listens to). */
  notify(body: Buffer): void {
    void this.post(body);
  }

  /** Stops retrying; a pending exchange resolves as failed. */
  close(): void {
    this.isClosed = true;
    clearTimeout(this.retryTimer);
    this.wakeRetry?.();
  }

  private backoff(reason: string): Promise<void> {
    const base = this.host.limits.retryDelayMs;
    const delay = base * 2 ** this.retries + Math.floor(Math.random() * base);
    this.retries++;
    routeLog(this.host.log, this.route).warn(
      { cid: this.cid, route: this.route.id, err: reason, attempt: this.retries, delayMs: delay },
      'backend request failed; retrying',
    );
    return new Promise((resolve) => {
      this.wakeRetry = resolve;
      this.retryTimer = setTimeout(resolve, clampTimerMs(delay));
    });
  }

  private post(body: Buffer): Promise<BackendOutcome> {
    this.requestStartedAt = preciseNow();
    return requestTarget(
      this.host.ctx.pools,
      this.target,
      this.request(body, () => this.baseHeaders),
    );
  }

  /** A request carrying `body`: the replayed handshake headers, signing, events and Meta-*. */
  private request(body: Buffer, replayed: (target: RouteTarget) => string[]): BackendRequest {
    return {
      method: 'POST',
      path: this.path,
      headers: (target) => {
        const headers = [...replayed(target)];
        this.host.ctx.appendGripRequestHeaders(this.route, headers);
        if (!this.route.isNoGrip) headers.push('sec-websocket-extensions', 'grip');
        headers.push(
          'accept',
          WS_EVENTS_CONTENT_TYPE,
          'connection-id',
          this.cid,
          'content-type',
          WS_EVENTS_CONTENT_TYPE,
          'content-length',
          String(body.length),
        );
        for (const [name, value] of this.meta) headers.push(`Meta-${name}`, value);
        return headers;
      },
      body,
      timeoutMs: this.host.ctx.backendTimeoutMs,
      bodyMax: replyBodyMax,
    };
  }
}
