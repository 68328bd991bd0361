import fs from 'node:fs';
import uws from 'uWebSockets.js';
import type { HttpRequest, HttpResponse, TemplatedApp, us_listen_socket } from 'uWebSockets.js';
import { hostWithoutPort, matchRoute } from '../../src/routes/route-table.js';
import { rewritePath } from '../../src/routes/route.js';
import { sendError } from './error-response.js';
import { ForwardedRequest } from './forwarded-request.js';
import type { ConnectionCap } from '../connection-cap.js';
import type { GripResponder } from '../hold/grip-responder.js';
import type { ProxyContext } from '../proxy-context.js';
import { refuseBadRequest, requestProblem } from './request-refusal.js';
import { readClientRequest, type ClientRequestInfo } from './request-headers.js';
import { registerWebSockets } from '../ws/upgrade.js';
import type { WsSession } from '../ws/session.js';
import { ackPathPrefix, parseAckPath } from '../../src/grip/client-ack.js';

const noRouteText = 'Route not found\n';

/** The client-facing uWS app of one worker: every request goes through `handleRequest`. */
export class ClientServer {
  private readonly app: TemplatedApp;
  private listenSocket: us_listen_socket | undefined;
  private address: { host: string; port: number } | undefined;
  private isStopped = false;
  /** Set by the worker once listening: told of every request, it may pause accepting. */
  connectionCap: ConnectionCap | undefined;
  private readonly isTls: boolean;
  /** Open WebSocket sessions, closed with 1001 when the worker drains. */
  readonly webSockets: ReadonlySet<WsSession>;

  constructor(
    private readonly ctx: ProxyContext,
    private readonly grip: GripResponder,
  ) {
    const { tlsCert, tlsKey } = ctx.settings;
    this.isTls = Boolean(tlsCert);
    this.app = this.isTls
      ? uws.SSLApp({
          cert_file_name: fs.realpathSync(tlsCert),
          key_file_name: fs.realpathSync(tlsKey),
        })
      : uws.App();
    this.app.any('/*', (res, req) => this.handleRequest(res, req));
    this.webSockets = registerWebSockets(this.app, ctx, grip, this.isTls);
  }

  listen(host: string, port: number): Promise<number> {
    return new Promise((resolve, reject) => {
      this.app.listen(host, port, (socket) => {
        if (!socket) {
          reject(new Error(`cannot listen on ${host}:${port} (address in use or not available)`));
          return;
        }
        this.listenSocket = socket;
        this.address = { host, port: uws.us_socket_local_port(socket) };
        resolve(this.address.port);
      });
    });
  }

  /** Stops accepting new connections; established ones keep being served. */
  stopListening(): void {
    this.isStopped = true;
    this.pauseAccepting();
  }

  pauseAccepting(): void {
    if (this.listenSocket) uws.us_listen_socket_close(this.listenSocket);
    this.listenSocket = undefined;
  }

  resumeAccepting(): void {
    if (this.listenSocket || this.isStopped || !this.address) return;
    const { host, port } = this.address;
    this.app.listen(host, port, (socket) => {
      if (socket && (this.listenSocket || this.isStopped)) uws.us_listen_socket_close(socket);
      else if (socket) this.listenSocket = socket;
      else this.ctx.log.error({ host, port }, 'cannot listen again after the connection cap');
    });
  }

  private handleRequest(res: HttpResponse, req: HttpRequest): void {
    this.connectionCap?.onArrival();
    const client = readClientRequest(res, req, this.isTls);
    const path = req.getUrl();
    const problem = requestProblem(client.headers, path);
    if (problem !== undefined) {
      refuseBadRequest(this.ctx, res, client, problem);
      return;
    }
    const hasBody =
      Number(req.getHeader('content-length') || 0) > 0 || req.getHeader('transfer-encoding') !== '';
    if (path.startsWith(ackPathPrefix)) {
      this.takeClientAck(res, client.method, path, hasBody);
      return;
    }
    const route = matchRoute(this.ctx.routes, {
      host: hostWithoutPort(client.host),
      path,
      isTls: this.isTls,
      isWebSocket: req.getHeader('upgrade').toLowerCase() === 'websocket',
    });
    if (!route) {
      this.refuseNoRoute(res, client, hasBody);
      return;
    }
    const request = new ForwardedRequest(
      this.ctx,
      res,
      client,
      route,
      rewritePath(route, client.url),
      hasBody,
      route.isNoGrip ? undefined : this.grip.onGripReply,
    );
    this.ctx.inFlight.add(request);
    const { upstream } = this.ctx;
    if (upstream) upstream.start(request, req.getHeader('grip-sig'));
    else request.start();
  }

  /**
   * An HTTP client's acknowledgement of an acked push (`POST /_thumbtack/ack/<connection
   * id>/<item id>`): thumbtack's own path, never routed to a backend. 204 whether or not an
   * acknowledgement was awaited (an unknown one is counted), 400 for a malformed path.
   */
  private takeClientAck(res: HttpResponse, method: string, path: string, hasBody: boolean): void {
    const answer = (): void => {
      if (method !== 'POST') {
        res.cork(() => {
          res.writeStatus('405 Method Not Allowed');
          res.writeHeader('Allow', 'POST');
          res.end('Acknowledge with POST.\n');
        });
        return;
      }
      const ack = parseAckPath(path);
      if (!ack) {
        sendError(res, 400, `Acknowledge with POST ${ackPathPrefix}<connection id>/<item id>.`);
        return;
      }
      this.grip.subscriptions.clientAck(ack.connection, ack.item);
      res.cork(() => res.writeStatus('204 No Content').end());
    };
    if (!hasBody) {
      answer();
      return;
    }
    let isAborted = false;
    res.onAborted(() => (isAborted = true));
    res.onData((_chunk, isLast) => {
      if (isLast && !isAborted) answer();
    });
  }

  /**
   * 502 for a request no route matches. A body is read to its end first and discarded:
   * answering mid-body makes uWS close the connection while the client still writes,
   * and the client then sees a broken pipe instead of the 502.
   */
  private refuseNoRoute(res: HttpResponse, client: ClientRequestInfo, hasBody: boolean): void {
    const answer = (): void => {
      sendError(res, 502, noRouteText);
      // The access line every request gets, with no route or target to name.
      this.ctx.log.info(
        {
          method: client.method,
          path: client.url,
          status: 502,
          durationMs: 0,
          bytes: noRouteText.length,
          route: null,
          target: null,
          err: 'no route matches',
          ...this.ctx.clientFields(client),
        },
        'request',
      );
    };
    if (!hasBody) {
      answer();
      return;
    }
    let isAborted = false;
    res.onAborted(() => (isAborted = true));
    res.onData((_chunk, isLast) => {
      if (isLast && !isAborted) answer();
    });
  }
}
