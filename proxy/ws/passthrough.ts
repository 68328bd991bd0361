import { randomUUID } from 'node:crypto';
import type { ClientRequest, IncomingMessage } from 'node:http';
import type { HttpResponse, us_socket_context_t, WebSocket as ClientSocket } from 'uWebSockets.js';
import { WebSocket } from 'ws';
import { parseGripExtension } from '../../src/grip/ws-control.js';
import type { Route } from '../../src/routes/route.js';
import { sendError } from '../http/error-response.js';
import { rawHeaderPairs } from '../http/response-headers.js';
import { WsClient, type BackendSide } from './client.js';
import { acceptUpgrade, refusalBodyMax, relayRefusal } from './handshake.js';
import {
  closeCodes,
  isStatusCode,
  type WsHost,
  type WsSession,
  type WsUserData,
} from './session.js';
import { gripExtensionOffers, passthroughHeaders, type UpgradeRequest } from './upgrade-request.js';
import { preciseNow } from '../../src/ipc/clock.js';
import { isConnectErrorCode } from '../backend/connect-error.js';
import type { TargetCursor } from '../backend/target-cursor.js';
import { routeLog } from '../route-log.js';

/**
 * A client WebSocket relayed to a real WebSocket on the backend (routes without `over_http`,
 * protocol 4.10). The client's upgrade is answered only once the backend's is: a refusal is
 * relayed as the HTTP answer. Messages flow both ways; with the `grip` extension, backend
 * messages go through the GRIP rules. Pings are relayed; each hop answers pongs itself.
 */
export class WsPassthroughSession implements WsSession, BackendSide {
  readonly transport = 'ws';
  private readonly client: WsClient;
  private readonly startedAt = Date.now();
  private res: HttpResponse | undefined;
  private isUpgradeAborted = false;
  private backend: WebSocket | undefined;
  private upgradeHeaders: [string, string][] = [];
  private isBackendClosed = false;
  private isDetached = false;
  private isBackendPaused = false;
  private isEnded = false;
  private isFromUpstream = false;
  /** The backend broke the WebSocket protocol (`ws` failed its side with 1002, 1007, ...). */
  private isBackendFaulty = false;

  constructor(
    private readonly host: WsHost,
    private readonly route: Route,
    private readonly upgrade: UpgradeRequest,
    private readonly context: us_socket_context_t,
    res: HttpResponse,
    private readonly targets: TargetCursor,
  ) {
    this.res = res;
    this.client = new WsClient(host, route, randomUUID(), this);
    res.onAborted(() => {
      this.isUpgradeAborted = true;
      this.res = undefined;
      this.backend?.terminate();
      this.end();
    });
  }

  /**
   * The client is an upstream GRIP proxy (its Grip-Sig verified against `--upstream-key`):
   * its `Grip-*` headers and grip extension offer reach the backend, and the backend's grip
   * extension and control messages go back to it untouched. Before `start()`.
   */
  trustUpstream(): void {
    this.isFromUpstream = true;
  }

  get isAborted(): boolean {
    return this.isUpgradeAborted;
  }

  start(): void {
    this.host.sessions.add(this);
    this.connect();
  }

  private connect(): void {
    const target = this.targets.target;
    const host = target.host.includes(':') ? `[${target.host}]` : target.host;
    const url = `${target.isSsl ? 'wss' : 'ws'}://${host}:${target.port}${this.upgrade.path}`;
    const protocols = this.upgrade.protocol
      .split(',')
      .map((p) => p.trim())
      .filter(Boolean);
    const flat = passthroughHeaders(
      this.host,
      this.route,
      target,
      this.upgrade.client,
      this.client.cid,
      this.isFromUpstream,
    );
    const headers: Record<string, string[]> = {};
    for (let i = 0; i + 1 < flat.length; i += 2) (headers[flat[i]!] ??= []).push(flat[i + 1]!);
    let backend: WebSocket;
    try {
      backend = new WebSocket(url, protocols, {
        headers,
        perMessageDeflate: false,
        followRedirects: false,
        handshakeTimeout: this.host.ctx.backendTimeoutMs,
        rejectUnauthorized: !target.isInsecure,
        ...(target.hostHeader ? { servername: target.hostHeader.replace(/:\d+$/, '') } : {}),
      });
    } catch (err) {
      // ws throws synchronously for subprotocol lists it considers invalid.
      routeLog(this.host.log, this.route).info(
        { route: this.route.id, err: (err as Error).message },
        'cannot forward the websocket handshake',
      );
      this.refuse(400);
      return;
    }
    this.backend = backend;
    backend.on(
      'upgrade',
      this.guarded((res: IncomingMessage) => this.onBackendUpgrade(res)),
    );
    backend.on(
      'unexpected-response',
      this.guarded((req: ClientRequest, res: IncomingMessage) => this.onBackendRefusal(req, res)),
    );
    backend.on(
      'open',
      this.guarded(() => this.onBackendOpen()),
    );
    backend.on(
      'error',
      this.guarded((err: Error) => this.onBackendError(err)),
    );
    backend.on(
      'message',
      this.guarded((data: Buffer, isBinary: boolean) => this.onBackendMessage(data, isBinary)),
    );
    backend.on(
      'ping',
      this.guarded((data: Buffer) => this.client.ping(data)),
    );
    backend.on(
      'close',
      this.guarded((code: number, reason: Buffer) => this.onBackendClose(code, reason)),
    );
  }

  private onBackendUpgrade(res: IncomingMessage): void {
    this.upgradeHeaders = rawHeaderPairs(res.rawHeaders);
    // `ws` fails a handshake whose answer names an extension it did not offer itself; the
    // grip extension is ours to read, so it is taken out before `ws` checks the answer.
    delete res.headers['sec-websocket-extensions'];
  }

  private onBackendRefusal(req: ClientRequest, res: IncomingMessage): void {
    const chunks: Buffer[] = [];
    let size = 0;
    const finish = (): void => {
      req.destroy();
      const client = this.res;
      this.res = undefined;
      if (!client) return this.end();
      const body = Buffer.concat(chunks, Math.min(size, refusalBodyMax));
      relayRefusal(
        client,
        res.statusCode ?? 502,
        res.statusMessage ?? '',
        rawHeaderPairs(res.rawHeaders),
        body,
      );
      routeLog(this.host.log, this.route).info(
        {
          route: this.route.id,
          path: this.upgrade.path,
          target: this.targets.label,
          status: res.statusCode,
        },
        'backend refused the websocket',
      );
      this.end();
    };
    res.on('data', (chunk: Buffer) => {
      if (size < refusalBodyMax) chunks.push(chunk);
      size += chunk.length;
    });
    res.on('end', finish);
    res.on('error', finish);
  }

  private onBackendOpen(): void {
    const res = this.res;
    this.res = undefined;
    if (!res || this.isUpgradeAborted) {
      this.backend?.terminate();
      return;
    }
    const backendExtensions = this.upgradeHeaders
      .filter(([name]) => name.toLowerCase() === 'sec-websocket-extensions')
      .map(([, value]) => value);
    acceptUpgrade(
      res,
      this.upgradeHeaders,
      this.backend!.protocol,
      this.upgrade,
      this.context,
      this,
      this.isFromUpstream ? gripExtensionOffers(backendExtensions) : '',
    );
    if (this.client.isClosed) return;
    routeLog(this.host.log, this.route).info(
      {
        cid: this.client.cid,
        route: this.route.id,
        path: this.upgrade.path,
        target: this.targets.label,
        status: 101,
        ...this.host.ctx.clientFields(this.upgrade.client),
      },
      'websocket opened',
    );
    const grip =
      this.route.isNoGrip || this.isFromUpstream
        ? undefined
        : parseGripExtension(backendExtensions);
    if (grip) this.client.enableGrip(grip);
    this.client.subscribeImplicit(this.targets.target.subscriptions);
  }

  private onBackendError(err: Error): void {
    if (this.isUpgradeAborted) return;
    const code = (err as NodeJS.ErrnoException).code ?? '';
    if (this.res) {
      const failed = this.targets.label;
      if (isConnectErrorCode(code) && this.targets.failOver()) {
        routeLog(this.host.log, this.route).warn(
          { route: this.route.id, target: failed, err: code },
          'backend unreachable, trying the next target',
        );
        this.backend = undefined;
        this.connect();
        return;
      }
      routeLog(this.host.log, this.route).error(
        { route: this.route.id, target: this.targets.label, err: code || err.message },
        'websocket backend handshake failed',
      );
      const isTimeout = err.message.includes('timed out');
      this.refuse(isTimeout ? 504 : 502);
      return;
    }
    if (code.startsWith('WS_ERR_')) this.isBackendFaulty = true;
    routeLog(this.host.log, this.route).warn(
      { cid: this.client.cid, route: this.route.id, err: code || err.message },
      'websocket backend error',
    );
  }

  private onBackendMessage(data: Buffer, isBinary: boolean): void {
    if (this.isDetached) return;
    // Channels this message subscribes to take items published from now on.
    this.client.controlSince = preciseNow();
    this.client.fromBackend(data, !isBinary);
    if (!this.client.isClosed && this.client.bufferedAmount > this.host.limits.bufferMax / 2) {
      // Relayed traffic waits for the client rather than filling its buffer to the bound.
      this.isBackendPaused = true;
      this.backend?.pause();
    }
  }

  private onBackendClose(code: number, reason: Buffer): void {
    this.isBackendClosed = true;
    if (this.res) return; // handshake failure: answered by the error or refusal handler
    if (!this.isDetached && !this.client.isClosed) {
      // A backend frame the proxy cannot relay (a close code clients refuse, invalid UTF-8,
      // ...) ends in 1006 for `ws`; the client gets a close frame rather than a bare drop.
      if (code === 1006 && this.isBackendFaulty) {
        this.client.close(closeCodes.badGateway, 'backend protocol error', 'failure');
      } else if (code === 1006) this.client.drop('backend');
      else this.client.close(code === 1005 ? undefined : code, reason.toString('utf8'), 'backend');
    }
    this.maybeEnd();
  }

  // uWS socket events

  onOpen(ws: ClientSocket<WsUserData>): void {
    this.client.attach(ws);
  }

  onMessage(message: ArrayBuffer, isBinary: boolean): void {
    if (this.client.closeIfTooBig(message) || this.client.consumeAck(message, isBinary)) return;
    const backend = this.backend;
    if (this.isDetached || !backend || backend.readyState !== WebSocket.OPEN) return;
    backend.send(Buffer.copyBytesFrom(new Uint8Array(message)), { binary: isBinary });
    if (backend.bufferedAmount > this.host.limits.bufferMax) {
      // uWS cannot stop reading a WebSocket, so a client outpacing its backend is cut.
      routeLog(this.host.log, this.route).warn(
        { cid: this.client.cid, route: this.route.id, buffered: backend.bufferedAmount },
        'closing a WebSocket client that sends faster than its backend reads',
      );
      this.client.close(closeCodes.policy, 'backend too slow', 'limit');
    }
  }

  onPing(message: ArrayBuffer): void {
    const backend = this.backend;
    if (this.isDetached || !backend || backend.readyState !== WebSocket.OPEN) return;
    backend.ping(Buffer.copyBytesFrom(new Uint8Array(message)));
  }

  onPong(): void {}

  onDrain(): void {
    if (this.isBackendPaused && this.client.bufferedAmount < this.host.limits.bufferMax / 4) {
      this.isBackendPaused = false;
      this.backend?.resume();
    }
  }

  onClose(code: number, reason: ArrayBuffer): void {
    const cause = this.client.closeCause;
    const text = Buffer.from(reason).toString('utf8');
    this.client.onClosed();
    routeLog(this.host.log, this.route).info(
      {
        cid: this.client.cid,
        route: this.route.id,
        code,
        by: cause ?? 'client',
        durationMs: Date.now() - this.startedAt,
      },
      'websocket closed',
    );
    const backend = this.backend;
    if (backend && !this.isBackendClosed && !this.isDetached && cause !== 'backend') {
      if (cause === undefined && code === 1006) backend.terminate();
      else if (cause === undefined && isStatusCode(code)) closeBackend(backend, code, text);
      else if (cause === undefined || cause === 'publish') closeBackend(backend);
      else closeBackend(backend, closeCodes.goingAway);
    }
    this.maybeEnd();
  }

  shutdown(): void {
    if (!this.client.isClosed)
      this.client.close(closeCodes.serviceRestart, 'service restart', 'shutdown');
  }

  // BackendSide

  detach(): void {
    if (this.isDetached) return;
    this.isDetached = true;
    if (this.backend && !this.isBackendClosed) closeBackend(this.backend);
  }

  /** Refresh only concerns WebSocket-over-HTTP. */
  refresh(): void {}

  /** A mistake in a backend event handler drops this session only, never the worker. */
  private guarded<A extends unknown[]>(handler: (...args: A) => void): (...args: A) => void {
    return (...args: A) => {
      try {
        handler(...args);
      } catch (err) {
        routeLog(this.host.log, this.route).error(
          { cid: this.client.cid, route: this.route.id, err: (err as Error).stack ?? String(err) },
          'websocket session failed; dropping it',
        );
        this.backend?.terminate();
        if (this.res) this.refuse(502);
        else if (!this.client.isClosed) this.client.drop('failure');
      }
    };
  }

  private refuse(status: 400 | 502 | 504): void {
    const res = this.res;
    this.res = undefined;
    if (res) sendError(res, status);
    this.backend?.terminate();
    this.end();
  }

  private maybeEnd(): void {
    if (this.client.isClosed && (this.isBackendClosed || !this.backend)) this.end();
    else if (this.client.isClosed && this.isDetached) this.end();
  }

  private end(): void {
    if (this.isEnded) return;
    this.isEnded = true;
    this.host.sessions.delete(this);
  }
}

function closeBackend(backend: WebSocket, code?: number, reason?: string): void {
  try {
    backend.close(code, reason);
  } catch {
    backend.terminate(); // a code or reason `ws` refuses: drop instead
  }
}
