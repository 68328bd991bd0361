import type { HttpRequest, HttpResponse } from 'uWebSockets.js';
import { isReplayedClientHeader } from '../src/grip/ws-over-http.js';
import type { Route, RouteTarget } from '../src/routes/route.js';
import { buildBackendHeaders, canonicalIp, type ClientRequestInfo } from './request-headers.js';
import type { WsHost } from './ws-session.js';

/** A client's upgrade request, read synchronously in uWS's upgrade handler (req dies after it). */
export interface UpgradeRequest {
  client: ClientRequestInfo;
  /** Path and query toward the backend, after the route's rewriting. */
  path: string;
  /** What uWS's `res.upgrade` needs later. */
  key: string;
  extensions: string;
  /** Subprotocols the client offered (header value, possibly empty). */
  protocol: string;
}

export function readUpgradeRequest(
  res: HttpResponse,
  req: HttpRequest,
  isTls: boolean,
): UpgradeRequest {
  const headers: [string, string][] = [];
  req.forEach((name, value) => {
    // uWS decodes values as UTF-8; undici and node:http write one byte per char (latin1).
    headers.push([name, isAscii(value) ? value : Buffer.from(value, 'utf8').toString('latin1')]);
  });
  const query = req.getQuery();
  const url = query ? `${req.getUrl()}?${query}` : req.getUrl();
  return {
    client: {
      method: req.getCaseSensitiveMethod(),
      url,
      headers,
      remoteAddress: canonicalIp(Buffer.from(res.getRemoteAddressAsText()).toString()),
      isTls,
      host: req.getHeader('host'),
    },
    path: url,
    key: req.getHeader('sec-websocket-key'),
    extensions: req.getHeader('sec-websocket-extensions'),
    protocol: req.getHeader('sec-websocket-protocol'),
  };
}

/** The Host the backend sees: route `as_host`, the target's `host=`, else the client's. */
function backendHost(route: Route, target: RouteTarget, client: ClientRequestInfo): string {
  return route.asHost ?? target.hostHeader ?? client.host;
}

/**
 * The client's handshake headers every WebSocket-over-HTTP request replays (protocol 4.1),
 * with forwarding and route headers applied. Signing, Meta-* and the event headers are
 * added per request.
 */
export function replayedHeaders(
  host: WsHost,
  route: Route,
  target: RouteTarget,
  client: ClientRequestInfo,
): string[] {
  return forwardedHeaders(host, route, target, {
    ...client,
    headers: client.headers.filter(([name]) => isReplayedClientHeader(name)),
  });
}

/**
 * The handshake headers of a passthrough WebSocket (protocol 4.10): the client's, minus
 * what the WebSocket client library writes itself (key, version, subprotocols) and the
 * extensions it would otherwise offer; `Meta-*` is kept, as Pushpin does.
 */
export function passthroughHeaders(
  host: WsHost,
  route: Route,
  target: RouteTarget,
  client: ClientRequestInfo,
): string[] {
  const own = new Set([
    'sec-websocket-key',
    'sec-websocket-version',
    'sec-websocket-extensions',
    'sec-websocket-protocol',
  ]);
  const headers = forwardedHeaders(host, route, target, {
    ...client,
    headers: client.headers.filter(([name]) => !own.has(name)),
  });
  for (const [name, value] of host.ctx.gripRequestHeaders(route)) headers.push(name, value);
  if (!route.isNoGrip) headers.push('sec-websocket-extensions', 'grip');
  return headers;
}

function forwardedHeaders(
  host: WsHost,
  route: Route,
  target: RouteTarget,
  client: ClientRequestInfo,
): string[] {
  const { ctx } = host;
  return buildBackendHeaders(client, {
    xForwardedFor: ctx.settings.xForwardedFor,
    xForwardedProto: ctx.settings.xForwardedProto,
    trustedProxies: ctx.trustedProxies,
    host: backendHost(route, target, client),
    setHeaders: route.setHeaders,
    removeHeaders: route.removeHeaders,
    extra: [],
  });
}

function isAscii(text: string): boolean {
  for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) > 0x7f) return false;
  return true;
}
