import { isUtf8 } from 'node:buffer';
import { randomUUID } from 'node:crypto';
import type { HttpResponse, us_socket_context_t, WebSocket } from 'uWebSockets.js';
import type { Route } from '../../src/routes/route.js';
import { requestBackend, type BackendOutcome } from '../backend/backend-request.js';
import type { TargetCursor } from '../backend/target-cursor.js';
import { sendError } from '../http/error-response.js';
import { routeLog } from '../route-log.js';
import { WsClient, type BackendSide } from './client.js';
import { acceptUpgrade, relayRefusal } from './handshake.js';
import { closeCodes, type WsHost, type WsSession, type WsUserData } from './session.js';
import { replayedHeaders, type UpgradeRequest } from './upgrade-request.js';

/** An answer body past this fails the session (as WebSocket-over-HTTP's answers do). */
const replyBodyMax = 1_000_000;

/** One client message waiting for its POST. */
interface Pending {
  content: Buffer;
  isBinary: boolean;
}

/**
 * One client WebSocket carried to a plain REST API the way ws2api drives one (route target
 * `over_http=rest`): `GET <path>/<id>` on connect, accepted when the answer's body is `ok`;
 * `POST <path>/<id>` with each client message as its body, a non-empty answer body going
 * back on the socket as a text message; `DELETE <path>/<id>` once the client is gone. One
 * request at a time, in order, so the API sees a connection's calls in lock-step. The id is
 * the connection's, so the API pushes to it by publishing to `$connection:<id>`.
 */
export class WsRestSession implements WsSession, BackendSide {
  readonly transport = 'ws-over-http';
  readonly cid = randomUUID();
  private readonly client: WsClient;
  private readonly resource: string;
  private readonly startedAt = Date.now();
  private res: HttpResponse | undefined;
  private isUpgradeAborted = false;
  private isOpen = false;
  private isEnded = false;
  private isInFlight = false;
  /** Set once the client is gone: the DELETE goes out after the messages before it. */
  private isDeleteDue = false;
  private readonly queue: Pending[] = [];
  private queuedBytes = 0;

  constructor(
    private readonly host: WsHost,
    private readonly route: Route,
    private readonly upgrade: UpgradeRequest,
    private readonly context: us_socket_context_t,
    res: HttpResponse,
    private readonly targets: TargetCursor,
  ) {
    this.res = res;
    this.client = new WsClient(host, route, this.cid, this);
    const queryAt = upgrade.path.indexOf('?');
    const path = queryAt === -1 ? upgrade.path : upgrade.path.slice(0, queryAt);
    this.resource = `${path.replace(/\/+$/, '')}/${encodeURIComponent(this.cid)}`;
    res.onAborted(() => {
      this.isUpgradeAborted = true;
      this.res = undefined;
    });
  }

  start(): void {
    this.host.sessions.add(this);
    this.call('GET')
      .then((outcome) => this.onConnectAnswer(outcome))
      .catch((err: unknown) => this.crash(err));
  }

  // uWS socket events

  onOpen(ws: WebSocket<WsUserData>): void {
    this.client.attach(ws);
  }

  onMessage(message: ArrayBuffer, isBinary: boolean): void {
    if (this.client.closeIfTooBig(message) || this.client.consumeAck(message, isBinary)) return;
    if (this.isDeleteDue) return;
    this.queue.push({ content: Buffer.copyBytesFrom(new Uint8Array(message)), isBinary });
    this.queuedBytes += message.byteLength;
    if (this.queuedBytes > this.host.limits.bufferMax) {
      // uWS cannot stop reading a WebSocket, so a client outpacing its API is cut.
      routeLog(this.host.log, this.route).warn(
        { cid: this.cid, route: this.route.id, queued: this.queuedBytes },
        'closing a WebSocket client that sends faster than its backend accepts',
      );
      this.client.close(closeCodes.policy, 'backend too slow', 'limit');
      return;
    }
    this.pump();
  }

  onPing(): void {}

  onPong(): void {}

  onDrain(): void {}

  onClose(code: number): void {
    const cause = this.client.closeCause;
    this.client.onClosed();
    routeLog(this.host.log, this.route).info(
      {
        cid: this.cid,
        route: this.route.id,
        code,
        by: cause ?? 'client',
        durationMs: Date.now() - this.startedAt,
      },
      'websocket closed',
    );
    // Messages the client sent before it left are still delivered, then the DELETE.
    this.isDeleteDue = true;
    this.pump();
  }

  shutdown(): void {
    if (this.isOpen && !this.client.isClosed) {
      this.client.close(closeCodes.serviceRestart, 'service restart', 'shutdown');
    }
  }

  // BackendSide: a REST API speaks no GRIP control messages.

  detach(): void {}

  refresh(): void {}

  // Connect

  private onConnectAnswer(outcome: BackendOutcome): void {
    if (!outcome.isOk) {
      routeLog(this.host.log, this.route).error(
        { route: this.route.id, target: this.targets.label, err: outcome.reason },
        outcome.isTimeout ? 'backend timed out' : 'backend request failed',
      );
      return this.refuse(outcome.isTimeout ? 504 : 502);
    }
    const { reply } = outcome;
    const isAccepted = reply.code === 200 && reply.body.toString('utf8').trim() === 'ok';
    if (this.isUpgradeAborted || !this.res) {
      // The client left while the API was accepting: it must forget the connection.
      if (isAccepted) this.isDeleteDue = true;
      this.isOpen = isAccepted;
      return isAccepted ? this.pump() : this.end();
    }
    if (!isAccepted) {
      // Anything but `ok` refuses; the API's body tells the client why (403 for a 200).
      const status = reply.code === 200 ? 403 : reply.code;
      relayRefusal(this.res, status, status === 403 ? 'Forbidden' : reply.reason, [], reply.body);
      this.res = undefined;
      routeLog(this.host.log, this.route).info(
        { route: this.route.id, path: this.upgrade.path, status },
        'backend refused the websocket',
      );
      return this.end();
    }
    const res = this.res;
    this.res = undefined;
    this.isOpen = true;
    acceptUpgrade(res, [], '', this.upgrade, this.context, this);
    routeLog(this.host.log, this.route).info(
      {
        cid: this.cid,
        route: this.route.id,
        path: this.upgrade.path,
        target: this.targets.label,
        status: 101,
        ...this.host.ctx.clientFields(this.upgrade.client),
      },
      'websocket opened',
    );
    this.client.subscribeImplicit(this.targets.target.subscriptions);
    this.pump();
  }

  private refuse(status: 502 | 504): void {
    const res = this.res;
    this.res = undefined;
    if (res) sendError(res, status);
    this.end();
  }

  // Messages and the DELETE, one call at a time

  private pump(): void {
    if (this.isInFlight || !this.isOpen || this.isEnded) return;
    const next = this.queue.shift();
    if (next) {
      this.queuedBytes -= next.content.length;
      this.isInFlight = true;
      this.call('POST', next)
        .then((outcome) => this.onMessageAnswer(outcome))
        .catch((err: unknown) => this.crash(err));
      return;
    }
    if (!this.isDeleteDue) return;
    this.isInFlight = true;
    this.call('DELETE')
      .then((outcome) => {
        if (!outcome.isOk || outcome.reply.code >= 300) this.warnFailed('DELETE', outcome);
        this.end();
      })
      .catch((err: unknown) => this.crash(err));
  }

  private onMessageAnswer(outcome: BackendOutcome): void {
    this.isInFlight = false;
    if (!outcome.isOk || outcome.reply.code >= 300) {
      this.warnFailed('POST', outcome);
      // The message did not arrive: the client must not go on as if it had.
      if (!this.client.isClosed) {
        this.client.close(closeCodes.badGateway, 'backend refused a message', 'failure');
      }
      this.queue.length = 0;
      this.queuedBytes = 0;
      this.pump();
      return;
    }
    const { body } = outcome.reply;
    // ws2api answers in text; bytes that are not UTF-8 cannot be a text frame.
    if (body.length > 0 && !this.client.isClosed) this.client.send(body, !isUtf8(body));
    this.pump();
  }

  private call(method: 'GET' | 'POST' | 'DELETE', message?: Pending): Promise<BackendOutcome> {
    const body = message?.content;
    return requestBackend(
      this.host.ctx.pools,
      this.targets,
      {
        method,
        path: this.resource,
        headers: (target) => {
          const headers = replayedHeaders(this.host, this.route, target, this.upgrade.client);
          this.host.ctx.appendGripRequestHeaders(this.route, headers);
          headers.push('connection-id', this.cid);
          if (body) {
            headers.push(
              'content-type',
              message.isBinary ? 'application/octet-stream' : 'text/plain; charset=utf-8',
              'content-length',
              String(body.length),
            );
          }
          return headers;
        },
        body,
        timeoutMs: this.host.ctx.backendTimeoutMs,
        bodyMax: replyBodyMax,
      },
      (failed, reason) =>
        routeLog(this.host.log, this.route).warn(
          { route: this.route.id, target: failed, err: reason },
          'backend unreachable, trying the next target',
        ),
    );
  }

  private warnFailed(method: string, outcome: BackendOutcome): void {
    routeLog(this.host.log, this.route).warn(
      {
        cid: this.cid,
        route: this.route.id,
        method,
        ...(outcome.isOk ? { status: outcome.reply.code } : { err: outcome.reason }),
      },
      'REST call for a WebSocket failed',
    );
  }

  private crash(err: unknown): void {
    routeLog(this.host.log, this.route).error(
      { cid: this.cid, route: this.route.id, err: (err as Error).stack ?? String(err) },
      'websocket session failed',
    );
    if (this.res) this.refuse(502);
    else if (!this.client.isClosed) {
      this.client.close(closeCodes.internal, 'internal error', 'failure');
    }
    this.end();
  }

  private end(): void {
    if (this.isEnded) return;
    this.isEnded = true;
    this.host.sessions.delete(this);
  }
}
