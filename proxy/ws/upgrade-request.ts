import type { HttpRequest, HttpResponse } from 'uWebSockets.js';
import { isReplayedClientHeader } from '../../src/grip/ws-over-http.js';
import type { Route, RouteTarget } from '../../src/routes/route.js';
import { readClientRequest, type ClientRequestInfo } from '../http/request-headers.js';
import type { WsHost } from './session.js';

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
  const client = readClientRequest(res, req, isTls);
  return {
    client,
    path: client.url,
    key: req.getHeader('sec-websocket-key'),
    extensions: req.getHeader('sec-websocket-extensions'),
    protocol: req.getHeader('sec-websocket-protocol'),
  };
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
  const replayed = client.headers.filter(([name]) => isReplayedClientHeader(name));
  return host.ctx.backendHeaders({ ...client, headers: replayed }, route, target);
}

/** Handshake headers the `ws` client library writes itself, or would offer otherwise. */
const libraryWrittenHeaders = new Set([
  'sec-websocket-key',
  'sec-websocket-version',
  'sec-websocket-extensions',
  'sec-websocket-protocol',
]);

/**
 * The handshake headers of a passthrough WebSocket (protocol 4.10): the client's, minus
 * what the WebSocket client library writes itself (key, version, subprotocols) and the
 * extensions it would otherwise offer; `Meta-*` is kept, as Pushpin does. For an upstream
 * GRIP proxy (`isFromUpstream`), its `Grip-*` headers and its own `grip` extension offer go
 * on instead of ours.
 */
export function passthroughHeaders(
  host: WsHost,
  route: Route,
  target: RouteTarget,
  client: ClientRequestInfo,
  connectionId: string,
  isFromUpstream = false,
): string[] {
  const kept = client.headers.filter(([name]) => !libraryWrittenHeaders.has(name));
  const { ctx } = host;
  const headers = ctx.backendHeaders(
    { ...client, headers: kept },
    route,
    target,
    isFromUpstream,
    connectionId,
  );
  if (isFromUpstream) {
    const offer = gripExtensionOffers(
      client.headers.filter(([name]) => name === 'sec-websocket-extensions').map(([, v]) => v),
    );
    if (offer) headers.push('sec-websocket-extensions', offer);
    return headers;
  }
  ctx.appendGripRequestHeaders(route, headers);
  if (!route.isNoGrip) headers.push('sec-websocket-extensions', 'grip');
  return headers;
}

/** The `grip` entries of Sec-WebSocket-Extensions values, parameters kept; '' if none. */
export function gripExtensionOffers(values: readonly string[]): string {
  return values
    .flatMap((value) => value.split(','))
    .map((entry) => entry.trim())
    .filter((entry) => entry.split(';', 1)[0]!.trim().toLowerCase() === 'grip')
    .join(', ');
}
