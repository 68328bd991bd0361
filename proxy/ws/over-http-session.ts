import type { HttpResponse, us_socket_context_t, WebSocket } from 'uWebSockets.js';
import { WsEventsError } from '../../src/errors.js';
import { isUtf8 } from 'node:buffer';
import { isSendableCloseCode } from '../../src/grip/close-code.js';
import { parseGripExtension, type GripExtension } from '../../src/grip/ws-control.js';
import {
  decodeCloseContent,
  decodeWsEvents,
  encodeCloseContent,
  encodeWsEvents,
  type WsEvent,
} from '../../src/grip/ws-events.js';
import {
  findHeader,
  findHeaders,
  isWsEventsResponse,
  parseKeepAliveInterval,
} from '../../src/grip/ws-over-http.js';
import type { Route } from '../../src/routes/route.js';
import { sendError } from '../http/error-response.js';
import type { BackendOutcome, BackendReply } from '../backend/backend-request.js';
import type { TargetCursor } from '../backend/target-cursor.js';
import { WsClient, type BackendSide } from './client.js';
import { acceptUpgrade, relayRefusal } from './handshake.js';
import { WsOverHttpBackend, type WsExchange } from './over-http-backend.js';
import {
  closeCodes,
  isStatusCode,
  type WsHost,
  type WsSession,
  type WsUserData,
} from './session.js';
import type { UpgradeRequest } from './upgrade-request.js';
import { routeLog } from '../route-log.js';

/** Pushpin's limits: content bytes per request, control message size. */
const requestContentMax = 200_000;
const controlMessageMax = 16_384;

const DISCONNECT_EVENT: WsEvent = { type: 'DISCONNECT' };
const BARE_CLOSE_EVENT: WsEvent = { type: 'CLOSE' };
const EMPTY = Buffer.alloc(0);

/**
 * The latest Sec-WebSocket-Extensions answer and its parse. A backend answers every session
 * alike, so its sessions share one GripExtension (and message-prefix Buffer) instead of
 * keeping one each for as long as they are open.
 */
let lastExtensions: { header: string; grip: GripExtension | undefined } | undefined;

function sharedGripExtension(values: readonly string[]): GripExtension | undefined {
  const header = values.join(', ');
  if (lastExtensions?.header !== header) {
    lastExtensions = { header, grip: parseGripExtension(values) };
  }
  return lastExtensions.grip;
}

/**
 * One client WebSocket carried to a stateless backend as WebSocket-over-HTTP (protocol 4):
 * the upgrade is accepted only once the backend accepted the OPEN request; afterwards client
 * events queue up and go out as batches, one request in flight at a time, and the events
 * each answer carries are written to the client in order. A backend that stays down (after
 * retries) or answers badly closes the client with 1014.
 */
export class WsOverHttpSession implements WsSession, BackendSide {
  readonly transport = 'ws-over-http';
  private readonly client: WsClient;
  private readonly backend: WsOverHttpBackend;
  private readonly startedAt = Date.now();
  private res: HttpResponse | undefined;
  private isUpgradeAborted = false;
  private isOpen = false;
  private isEnded = false;
  private keepAliveTimer: NodeJS.Timeout | undefined;
  private readonly queue: WsEvent[] = [];
  private queuedBytes = 0;
  private isInFlight = false;
  private isRefreshQueued = false;
  /** CLOSE or DISCONNECT: the last event this backend gets, sent once the queue is empty. */
  private finalEvent: WsEvent | undefined;
  /** The backend takes no more requests (its side closed, was detached, or failed). */
  private isBackendDone = false;
  private isDetached = false;
  /** The handshake's request and uWS context, until the backend answered the OPEN. */
  private upgrade: UpgradeRequest | undefined;
  private context: us_socket_context_t | undefined;

  constructor(
    private readonly host: WsHost,
    private readonly route: Route,
    upgrade: UpgradeRequest,
    context: us_socket_context_t,
    res: HttpResponse,
    targets: TargetCursor,
  ) {
    this.res = res;
    this.upgrade = upgrade;
    this.context = context;
    this.backend = new WsOverHttpBackend(host, route, upgrade.client, upgrade.path, targets);
    this.client = new WsClient(host, route, this.backend.cid, this);
    res.onAborted(() => {
      this.isUpgradeAborted = true;
      this.res = undefined;
    });
  }

  start(): void {
    this.host.sessions.add(this);
    this.backend
      .open()
      .then((outcome) => this.onOpenAnswer(outcome))
      .catch((err: unknown) => this.crash(err));
  }

  // uWS socket events

  onOpen(ws: WebSocket<WsUserData>): void {
    this.client.attach(ws);
  }

  onMessage(message: ArrayBuffer, isBinary: boolean): void {
    if (this.client.closeIfTooBig(message) || this.client.consumeAck(message, isBinary)) return;
    this.enqueue({
      type: isBinary ? 'BINARY' : 'TEXT',
      content: Buffer.copyBytesFrom(new Uint8Array(message)),
    });
  }

  onPing(message: ArrayBuffer): void {
    this.enqueue({ type: 'PING', content: Buffer.copyBytesFrom(new Uint8Array(message)) });
  }

  onPong(message: ArrayBuffer): void {
    // Empty pongs answer uWS's own keep-alive pings: a request per connection per idle
    // period would only load the backend. Pongs carrying data are the client's and go on.
    if (message.byteLength === 0) return;
    this.enqueue({ type: 'PONG', content: Buffer.copyBytesFrom(new Uint8Array(message)) });
  }

  onDrain(): void {}

  onClose(code: number, reason: ArrayBuffer): void {
    const cause = this.client.closeCause;
    const event = cause === undefined ? clientCloseEvent(code, Buffer.from(reason)) : undefined;
    this.client.onClosed();
    routeLog(this.host.log, this.route).info(
      {
        cid: this.backend.cid,
        route: this.route.id,
        code,
        by: cause ?? 'client',
        durationMs: Date.now() - this.startedAt,
      },
      'websocket closed',
    );
    if (this.isBackendDone || this.isDetached) {
      this.maybeEnd();
      return;
    }
    switch (cause) {
      case undefined:
        this.setFinal(event!);
        break;
      case 'backend':
        // uWS does not report the client's answer to our close frame; the echo is assumed.
        this.setFinal({
          type: 'CLOSE',
          content: encodeCloseContent(isStatusCode(code) ? code : undefined),
        });
        break;
      case 'publish':
        this.setFinal(BARE_CLOSE_EVENT);
        break;
      default:
        // Cut by the proxy (limits, failure, shutdown): for the backend the client is gone.
        this.setFinal(DISCONNECT_EVENT);
    }
    this.flush();
  }

  shutdown(): void {
    if (this.isOpen) this.client.close(closeCodes.serviceRestart, 'service restart', 'shutdown');
  }

  // BackendSide

  detach(): void {
    if (this.isDetached || this.isBackendDone) return;
    this.isDetached = true;
    this.clearQueue();
    this.setFinal(BARE_CLOSE_EVENT);
    this.flush();
  }

  refresh(): void {
    if (!this.isOpen || this.isDetached || this.isBackendDone || this.client.isClosed) return;
    this.isRefreshQueued = true;
    this.flush();
  }

  // Opening handshake

  private onOpenAnswer(outcome: BackendOutcome): void {
    const { backend } = this;
    if (!outcome.isOk) {
      if (this.isUpgradeAborted) return this.end();
      routeLog(this.host.log, this.route).error(
        { route: this.route.id, target: backend.targets.label, err: outcome.reason },
        outcome.isTimeout ? 'backend timed out' : 'backend request failed',
      );
      return this.refuse(outcome.isTimeout ? 504 : 502);
    }
    const { reply } = outcome;
    const isAccepted = reply.code === 200 && isWsEventsResponse(reply.headers);
    if (this.isUpgradeAborted) {
      // The client left while the backend was accepting: tell it the connection is gone.
      if (isAccepted) backend.notify(encodeWsEvents([DISCONNECT_EVENT]));
      return this.end();
    }
    if (!isAccepted) return this.reject(reply);
    let events: WsEvent[];
    try {
      events = decodeWsEvents(reply.body);
    } catch (err) {
      if (!(err instanceof WsEventsError)) throw err;
      return this.failOpen(`invalid events in the accepting answer: ${err.message}`);
    }
    if (events.length === 0 && !parseKeepAliveInterval(reply.headers)) {
      return this.failOpen('accepting answer has no events and no Keep-Alive-Interval');
    }
    if (events.length > 0 && events[0]!.type !== 'OPEN') {
      return this.failOpen(`accepting answer starts with ${events[0]!.type}, not OPEN`);
    }
    backend.applyAnswer(reply);
    this.accept(reply, events.slice(1));
  }

  private accept(reply: BackendReply, events: WsEvent[]): void {
    const res = this.res!;
    const upgrade = this.upgrade!;
    const context = this.context!;
    this.res = this.upgrade = this.context = undefined;
    this.isOpen = true;
    const protocol = findHeader(reply.headers, 'sec-websocket-protocol') ?? '';
    acceptUpgrade(res, reply.headers, protocol, upgrade, context, this);
    if (this.client.isClosed) return;
    const { backend } = this;
    routeLog(this.host.log, this.route).info(
      {
        cid: backend.cid,
        route: this.route.id,
        path: upgrade.path,
        target: backend.targets.label,
        status: 101,
        ...this.host.ctx.clientFields(upgrade.client),
      },
      'websocket opened',
    );
    const grip = this.route.isNoGrip
      ? undefined
      : sharedGripExtension(findHeaders(reply.headers, 'sec-websocket-extensions'));
    if (grip) this.client.enableGrip(grip, controlMessageMax);
    this.client.controlSince = backend.requestStartedAt;
    this.client.subscribeImplicit(backend.target.subscriptions);
    this.afterReply(events);
  }

  /** The backend refused: its answer becomes the client's HTTP answer. */
  private reject(reply: BackendReply): void {
    relayRefusal(this.res!, reply.code, reply.reason, reply.headers, reply.body);
    const { path } = this.upgrade!;
    this.res = this.upgrade = this.context = undefined;
    routeLog(this.host.log, this.route).info(
      {
        route: this.route.id,
        path,
        target: this.backend.targets.label,
        status: reply.code,
      },
      'backend refused the websocket',
    );
    this.end();
  }

  private failOpen(reason: string): void {
    routeLog(this.host.log, this.route).warn(
      { route: this.route.id, target: this.backend.targets.label, reason },
      'websocket handshake failed',
    );
    this.refuse(502);
  }

  private refuse(status: 502 | 504): void {
    const res = this.res;
    this.res = this.upgrade = this.context = undefined;
    if (res) sendError(res, status);
    this.end();
  }

  // Client events to the backend, answers to the client

  private enqueue(event: WsEvent): void {
    if (!this.isOpen || this.isDetached || this.isBackendDone || this.finalEvent) return;
    this.queue.push(event);
    this.queuedBytes += event.content?.length ?? 0;
    if (this.queuedBytes > this.host.limits.bufferMax) {
      // uWS cannot stop reading a WebSocket, so a client outpacing its backend is cut.
      routeLog(this.host.log, this.route).warn(
        {
          cid: this.backend.cid,
          route: this.route.id,
          queued: this.queuedBytes,
          limit: this.host.limits.bufferMax,
        },
        'closing a WebSocket client that sends faster than its backend accepts',
      );
      this.client.close(closeCodes.policy, 'backend too slow', 'limit');
      return;
    }
    this.flush();
  }

  private setFinal(event: WsEvent): void {
    if (this.finalEvent) return;
    this.finalEvent = event;
    if (event.type === 'DISCONNECT') this.clearQueue();
  }

  private clearQueue(): void {
    this.queue.length = 0;
    this.queuedBytes = 0;
  }

  /** Sends what is pending, unless a request is in flight (its answer calls this again). */
  private flush(): void {
    if (this.isInFlight || this.isBackendDone || this.isEnded || !this.isOpen) return;
    const events: WsEvent[] = [];
    let bytes = 0;
    while (this.queue.length > 0 && bytes < requestContentMax) {
      const event = this.queue.shift()!;
      bytes += event.content?.length ?? 0;
      events.push(event);
    }
    this.queuedBytes -= bytes;
    const final = this.queue.length === 0 ? this.finalEvent : undefined;
    if (final) events.push(final);
    if (events.length === 0 && !this.isRefreshQueued) return;
    this.isRefreshQueued = false;
    this.isInFlight = true;
    clearTimeout(this.keepAliveTimer);
    this.keepAliveTimer = undefined;
    const isFinal = final !== undefined;
    this.backend
      .exchange(encodeWsEvents(events), isFinal)
      .then((result) => this.onExchanged(result, isFinal))
      .catch((err: unknown) => this.crash(err));
  }

  private onExchanged(result: WsExchange, isFinal: boolean): void {
    if (this.isEnded) return;
    this.isInFlight = false;
    if (isFinal) {
      // The last word (CLOSE, DISCONNECT, detach) is best effort; the client is not affected.
      if ('failure' in result) {
        routeLog(this.host.log, this.route).info(
          { cid: this.backend.cid, route: this.route.id, reason: result.failure },
          'final backend request failed',
        );
      }
      this.isBackendDone = true;
      return this.maybeEnd();
    }
    if ('failure' in result) return this.fail(result.failure);
    this.client.controlSince = this.backend.requestStartedAt;
    this.afterReply(this.client.isClosed || this.isDetached ? [] : result.events);
  }

  /** Writes an answer's events to the client in order, then sends what queued up meanwhile. */
  private afterReply(events: readonly WsEvent[]): void {
    for (const event of events) {
      if (this.client.isClosed || !this.handleEvent(event)) break;
    }
    if (this.isEnded) return;
    this.flush();
    const seconds = this.backend.keepAliveSeconds;
    if (!this.isInFlight && seconds > 0 && !this.isBackendDone && !this.client.isClosed) {
      this.keepAliveTimer = setTimeout(() => {
        this.keepAliveTimer = undefined;
        this.isRefreshQueued = true;
        this.flush();
      }, seconds * 1000);
    }
  }

  /** False when the event ends the exchange (events after it are ignored). */
  private handleEvent(event: WsEvent): boolean {
    const content = event.content ?? EMPTY;
    switch (event.type) {
      case 'TEXT':
        if (!isUtf8(content)) {
          // Relayed, it would make the client fail the connection (RFC 6455 8.1); a
          // passthrough backend sending this gets the same 1014 from `ws`'s check.
          routeLog(this.host.log, this.route).warn(
            { cid: this.backend.cid, route: this.route.id },
            'backend TEXT event is not UTF-8; closing the client with 1014',
          );
          this.client.close(closeCodes.badGateway, 'backend protocol error', 'failure');
          return false;
        }
        this.client.fromBackend(content, true);
        return true;
      case 'BINARY':
        this.client.fromBackend(content, false);
        return true;
      case 'PING':
        this.client.ping(content);
        return true;
      case 'PONG':
        // uWS.js cannot send an unsolicited pong; the client's own pings are answered by uWS.
        return true;
      case 'CLOSE': {
        const close = this.clientClose(event.content);
        this.client.close(close.code, close.reason, 'backend');
        return false;
      }
      case 'DISCONNECT':
        this.isBackendDone = true;
        this.client.drop('backend');
        return false;
      case 'OPEN':
        // An OPEN after the handshake is a protocol error; Pushpin treats it as a disconnect.
        routeLog(this.host.log, this.route).warn(
          { cid: this.backend.cid, route: this.route.id },
          'backend sent OPEN after the handshake',
        );
        this.isBackendDone = true;
        this.client.drop('failure');
        return false;
    }
  }

  private fail(reason: string): void {
    this.isBackendDone = true;
    routeLog(this.host.log, this.route).error(
      { cid: this.backend.cid, route: this.route.id, target: this.backend.targets.label, reason },
      'websocket backend failed',
    );
    if (!this.client.isClosed) {
      this.client.close(closeCodes.badGateway, 'backend unavailable', 'failure');
    }
    this.maybeEnd();
  }

  /** A mistake while handling an answer drops this session only, never the worker. */
  private crash(err: unknown): void {
    routeLog(this.host.log, this.route).error(
      { cid: this.backend.cid, route: this.route.id, err: (err as Error).stack ?? String(err) },
      'websocket session failed; dropping it',
    );
    this.isBackendDone = true;
    if (!this.isOpen) return this.refuse(502);
    if (!this.client.isClosed) this.client.drop('failure');
    this.maybeEnd();
  }

  private maybeEnd(): void {
    if (!this.client.isClosed) return;
    if (this.isBackendDone || (this.isDetached && !this.isInFlight)) this.end();
  }

  private end(): void {
    if (this.isEnded) return;
    this.isEnded = true;
    clearTimeout(this.keepAliveTimer);
    this.backend.close();
    this.host.sessions.delete(this);
  }

  /**
   * The close frame the client gets for the backend's CLOSE event. A code clients refuse
   * (1005, 1006, 0, 5000, ...) becomes 1011 and a reason that is not UTF-8 is left out, each
   * logged: sent as they are, the client would fail the connection with a protocol error.
   */
  private clientClose(content: Buffer | undefined): { code?: number; reason: string } {
    let close: { code?: number; reason: string };
    try {
      close = decodeCloseContent(content);
    } catch {
      return { reason: '' }; // a 1-byte payload: treated as a close without status
    }
    const log = routeLog(this.host.log, this.route);
    if (close.code !== undefined && !isSendableCloseCode(close.code)) {
      log.warn(
        { cid: this.backend.cid, route: this.route.id, code: close.code },
        'backend CLOSE code is one clients refuse; closing with 1011',
      );
      return { code: 1011, reason: '' };
    }
    if (close.reason !== '' && !isUtf8(content!.subarray(2))) {
      log.warn(
        { cid: this.backend.cid, route: this.route.id, code: close.code },
        'backend CLOSE reason is not UTF-8; closing without it',
      );
      return { code: close.code, reason: '' };
    }
    return close;
  }
}

/**
 * What the backend hears when the client closed: 1006 (no close frame: the client vanished,
 * or uWS timed it out) is a DISCONNECT; 1005 (a close frame without status) a bare CLOSE.
 */
function clientCloseEvent(code: number, reason: Buffer): WsEvent {
  if (code === 1006) return DISCONNECT_EVENT;
  if (!isStatusCode(code)) return BARE_CLOSE_EVENT;
  const content = Buffer.allocUnsafe(2 + reason.length);
  content.writeUInt16BE(code, 0);
  reason.copy(content, 2);
  return { type: 'CLOSE', content };
}
