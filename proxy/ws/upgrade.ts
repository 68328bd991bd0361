import uws from 'uWebSockets.js';
import type {
  HttpRequest,
  HttpResponse,
  TemplatedApp,
  us_socket_context_t,
  WebSocket,
} from 'uWebSockets.js';
import type { Settings } from '../../src/config/schema.js';
import { WS_EVENTS_CONTENT_TYPE } from '../../src/grip/ws-over-http.js';
import type { Logger } from '../../src/log.js';
import { hostWithoutPort, matchRoute } from '../../src/routes/route-table.js';
import { rewritePath } from '../../src/routes/route.js';
import type { ChannelSubscriptions } from '../bus/channel-subscriptions.js';
import { sendError } from '../http/error-response.js';
import type { ProxyContext } from '../proxy-context.js';
import { WsOverHttpSession } from './over-http-session.js';
import { WsPassthroughSession } from './passthrough.js';
import { WsRestSession } from './rest-session.js';
import { refuseBadRequest, requestProblem } from '../http/request-refusal.js';
import type { WsHost, WsLimits, WsSession, WsUserData } from './session.js';
import { readUpgradeRequest } from './upgrade-request.js';
import { WsTopics } from './topics.js';

/** What the worker lends its WebSockets: the bus subscriptions and the slow-client count. */
export interface WsWorker {
  readonly subscriptions: ChannelSubscriptions;
  onSlowClient(): void;
}

/**
 * Registers the WebSocket behaviour on the worker's uWS app: every upgrade request is routed
 * like an HTTP request, then carried as WebSocket-over-HTTP (targets with `over_http`) or
 * relayed to a backend WebSocket. Returns the set of live sessions.
 */
export function registerWebSockets(
  app: TemplatedApp,
  ctx: ProxyContext,
  worker: WsWorker,
  isTls: boolean,
): ReadonlySet<WsSession> {
  const { settings } = ctx;
  const log = ctx.log.child({ component: 'proxy.ws' });
  const topics = new WsTopics(app);
  worker.subscriptions.useBroadcaster(topics);
  const host: WsHost = {
    ctx,
    subscriptions: worker.subscriptions,
    topics,
    log,
    limits: wsLimits(settings),
    sessions: new Set(),
    isTls,
    onSlowClient: () => worker.onSlowClient(),
  };
  const messageMax = settings.wsMaxMessageSize;
  app.ws<WsUserData>('/*', {
    // uWS drops (without a close frame) a message over this; between messageMax and this
    // the session closes properly with 1009. Twice the limit keeps that window useful.
    maxPayloadLength: Math.min(2 * messageMax, 2 ** 31 - 1) || 1,
    idleTimeout: idleTimeout(settings.wsIdleTimeout),
    sendPingsAutomatically: settings.wsPing,
    compression: settings.wsCompression ? uws.SHARED_COMPRESSOR : uws.DISABLED,
    // Our own bound (wsBufferMax, checked after every send) closes slow clients well before.
    maxBackpressure: 2 ** 30,
    closeOnBackpressureLimit: 0,
    upgrade: (res, req, context) => {
      try {
        onUpgrade(host, res, req, context);
      } catch (err) {
        log.error({ err: (err as Error).stack ?? String(err) }, 'websocket upgrade failed');
        try {
          sendError(res, 502);
        } catch {
          // the response was already used
        }
      }
    },
    open: (ws) => guard(log, ws, (s) => s.onOpen(ws)),
    message: (ws, message, isBinary) => guard(log, ws, (s) => s.onMessage(message, isBinary)),
    ping: (ws, message) => guard(log, ws, (s) => s.onPing(message)),
    pong: (ws, message) => guard(log, ws, (s) => s.onPong(message)),
    drain: (ws) => guard(log, ws, (s) => s.onDrain()),
    close: (ws, code, message) => guard(log, ws, (s) => s.onClose(code, message)),
  });
  return host.sessions;
}

function wsLimits(settings: Settings): WsLimits {
  return {
    bufferMax: settings.wsBufferMax,
    messageMax: settings.wsMaxMessageSize,
    retryMax: settings.wsRetryMax,
    retryDelayMs: Math.round(settings.wsRetryDelay * 1000),
    subscriptionMax: settings.subscriptionMax,
  };
}

/** uWS accepts 0 (off) or 8-960 seconds; anything else aborts the process. */
function idleTimeout(seconds: number): number {
  if (seconds === 0) return 0;
  return Math.min(Math.max(seconds, 8), 960);
}

function onUpgrade(
  host: WsHost,
  res: HttpResponse,
  req: HttpRequest,
  context: us_socket_context_t,
): void {
  const request = readUpgradeRequest(res, req, host.isTls);
  const path = req.getUrl();
  const problem = requestProblem(request.client.headers, path);
  if (problem !== undefined) {
    refuseBadRequest(host.ctx, res, request.client, problem);
    return;
  }
  const route = matchRoute(host.ctx.routes, {
    host: hostWithoutPort(request.client.host),
    path,
    isTls: host.isTls,
    isWebSocket: true,
  });
  if (!route) {
    sendError(res, 502, 'Route not found\n');
    host.log.info({ path: request.client.url, status: 502 }, 'no route matches');
    return;
  }
  request.path = rewritePath(route, request.client.url);
  const targets = host.ctx.targetCursor(route);
  if (targets.target.isRest) {
    new WsRestSession(host, route, request, context, res, targets).start();
  } else if (targets.target.isOverHttp) {
    // The spoofing protection of protocol 6.4: only the proxy speaks events to the backend.
    if (
      req.getHeader('content-type').split(';')[0]!.trim().toLowerCase() === WS_EVENTS_CONTENT_TYPE
    ) {
      sendError(res, 403);
      return;
    }
    new WsOverHttpSession(host, route, request, context, res, targets).start();
  } else {
    const session = new WsPassthroughSession(host, route, request, context, res, targets);
    const { upstream } = host.ctx;
    if (upstream) upstream.start(session, req.getHeader('grip-sig'));
    else session.start();
  }
}

/**
 * A session's mistake must not reach uWS (an exception thrown into it ends the process):
 * it is logged and that one connection is dropped.
 */
function guard(log: Logger, ws: WebSocket<WsUserData>, run: (session: WsSession) => void): void {
  try {
    run(ws.getUserData().session);
  } catch (err) {
    log.error(
      { err: (err as Error).stack ?? String(err) },
      'websocket session failed; dropping it',
    );
    try {
      ws.close();
    } catch {
      // already closed
    }
  }
}
