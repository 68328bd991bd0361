/** `proto=` condition: only plain HTTP requests or only WebSocket handshakes. */
export type RouteProto = 'http' | 'ws';

/** A request header the route sets on the way to the backend (replacing any client value). */
export interface RouteHeader {
  /** Lower case, so the proxy can compare it with uWS header names directly. */
  name: string;
  value: string;
}

/** One backend of a route; several targets are failover, tried in order. */
export interface RouteTarget {
  /** Connect host: DNS name, IPv4, or IPv6 without the brackets (`::1`). */
  host: string;
  port: number;
  /** `ssl`: HTTPS/WSS to the backend. */
  isSsl: boolean;
  /** `insecure`: do not verify the backend's TLS certificate. */
  isInsecure: boolean;
  /** `host=`: Host header and TLS SNI to use instead of the client's Host. */
  hostHeader?: string;
  /** `trust_connect_host`: verify TLS against the connect host rather than `hostHeader`. */
  isTrustConnectHost: boolean;
  /** `over_http`: WebSocket connections are carried as WebSocket-over-HTTP requests. */
  isOverHttp: boolean;
  /**
   * `over_http=rest` (thumbtack): WebSocket connections become plain REST calls, as ws2api
   * makes them: GET on connect, POST per message, DELETE on close (proxy/ws/rest-session.ts).
   */
  isRest: boolean;
  /** `sub=`: channels every WebSocket connection is subscribed to on connect. */
  subscriptions: string[];
}

/** One line of a routes file, fully interpreted: the proxy never re-parses route text. */
export interface Route {
  /** `id=`, else `domain,proto,ssl,path_beg` with `*` for unset parts (as Pushpin). */
  id: string;
  /** Pushpin keeps separate stats only for routes given an explicit id. */
  hasExplicitId: boolean;
  /** Where the route was written, for log lines and messages (`routes:3`). */
  fileName: string;
  line: number;

  /**
   * Lower-cased host, host pattern with `*` wildcards (`*.example.com`), or `*` for any host.
   * Undefined when the condition names no domain: the route is then reachable only by id.
   */
  domain?: string;
  /** Undefined: both HTTP and WebSocket. */
  proto?: RouteProto;
  /** `ssl=yes` → true, `ssl=no` → false, undefined: either. */
  isSsl?: boolean;
  /** Prefix of the percent-encoded request path (no query); undefined: any path. */
  pathBeg?: string;

  /** `prefix=`: added to every channel named by instructions and control messages. */
  channelPrefix: string;
  /** `sig_key=`: `plain`, `base64:<b64>` or `file:<absolute path>`; undefined: global key. */
  sigKey?: string;
  /** `sig_iss=`; undefined: global issuer. */
  sigIss?: string;
  /** `no_grip`: plain proxying, no GRIP instructions, no Grip-Sig, no `grip` extension. */
  isNoGrip: boolean;
  /** Bytes removed from the start of the path before forwarding (`path_rem`, `replace_beg`). */
  pathRemove: number;
  /** `replace_beg=`: put in front of the path after `pathRemove` bytes were removed. */
  replaceBeg?: string;
  /** `as_host=<host[:port]>`: the Host the request is forwarded as. */
  asHost?: string;
  /** `header=Name:value` with a value: replace the client's header with this one. */
  setHeaders: RouteHeader[];
  /** `header=Name:` with an empty value: lower-case names removed from the request. */
  removeHeaders: string[];
  /** `debug`: detailed error bodies. */
  isDebug: boolean;
  /**
   * `sse_resume` (thumbtack): a stream hold whose channels have no prev-id resumes them
   * from the client's `Last-Event-ID`, from channel history.
   */
  isSseResume: boolean;
  /**
   * `max_lifetime=S` (thumbtack): seconds a held connection on this route may live before
   * it is asked to reconnect (0 = no limit); undefined: `--connection-max-lifetime`.
   */
  maxLifetime?: number;
  /** `log_level=`: the level of this route's log lines (Pushpin's numbers: 0 error ... 3 debug). */
  logLevel?: number;

  /** At least one. */
  targets: RouteTarget[];
}

/**
 * The path the backend sees: `pathRemove` bytes dropped, then `replaceBeg` put in front
 * (Pushpin applies both blindly, also to routes selected by id). A query string, if the
 * caller passes one, is kept untouched. The result always starts with `/`, since an
 * origin-form request target cannot be empty or relative.
 */
export function rewritePath(route: Route, path: string): string {
  if (route.pathRemove === 0 && route.replaceBeg === undefined) return path;
  const queryAt = path.indexOf('?');
  const pathPart = queryAt === -1 ? path : path.slice(0, queryAt);
  const query = queryAt === -1 ? '' : path.slice(queryAt);
  let rewritten = pathPart.slice(route.pathRemove);
  if (route.replaceBeg !== undefined) rewritten = route.replaceBeg + rewritten;
  if (!rewritten.startsWith('/')) rewritten = '/' + rewritten;
  return rewritten + query;
}
