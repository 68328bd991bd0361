import type { Settings } from '../src/config/schema.js';
import type { Logger } from '../src/log.js';
import type { Route, RouteTarget } from '../src/routes/route.js';
import type { RouteTable } from '../src/routes/route-table.js';
import { gripFeatureHeader } from '../src/grip/instruct.js';
import type { BackendPools } from './backend/backend-pools.js';
import type { ForwardedRequest } from './http/forwarded-request.js';
import type { RouteSigners } from './backend/route-signers.js';
import { TargetCursor } from './backend/target-cursor.js';
import type { WorkerStats } from './worker-stats.js';
import type { UpstreamTrust } from './http/upstream-trust.js';
import {
  buildBackendHeaders,
  canonicalIp,
  type ClientRequestInfo,
} from './http/request-headers.js';
import { routeLog } from './route-log.js';
import { ConnectionLifetimes, type Recyclable } from './connection-lifetime.js';

/** What every request handler of one worker shares: settings, routes, pools, signers, counts. */
export class ProxyContext {
  routes: RouteTable;
  trustedProxies: ReadonlySet<string>;
  backendTimeoutMs: number;
  /** `--access-log-client`: the access line names the client's address and user agent. */
  isAccessLogClient: boolean;
  /** `--upstream-key`: recognises requests from an upstream GRIP proxy; undefined when unset. */
  upstream: UpstreamTrust | undefined;
  /** Requests between arrival and the end of their forwarding (holds are counted apart). */
  readonly inFlight = new Set<ForwardedRequest>();
  /** Held connections (holds and WebSockets) due to be asked to reconnect. */
  readonly lifetimes = new ConnectionLifetimes(() => this.settings.closeGrace);
  private readonly roundRobin = new Map<string, number>();

  constructor(
    public settings: Settings,
    readonly log: Logger,
    routes: RouteTable,
    readonly pools: BackendPools,
    readonly signers: RouteSigners,
    readonly stats: WorkerStats,
  ) {
    this.routes = routes;
    this.trustedProxies = new Set(settings.trustedProxies.map(canonicalIp));
    this.backendTimeoutMs = Math.round(settings.backendTimeout * 1000);
    this.isAccessLogClient = settings.accessLogClient;
  }

  /** A reload's settings, for the next request (requests read them, not copies). */
  applySettings(settings: Settings): void {
    this.settings = settings;
    this.trustedProxies = new Set(settings.trustedProxies.map(canonicalIp));
    this.backendTimeoutMs = Math.round(settings.backendTimeout * 1000);
    this.isAccessLogClient = settings.accessLogClient;
  }

  /** A held connection starts its lifetime: route `max_lifetime=`, else the setting. */
  startLifetime(route: Route, connection: Recyclable): void {
    const lifetime = route.maxLifetime ?? this.settings.connectionMaxLifetime;
    if (lifetime > 0) {
      this.lifetimes.track(connection, lifetime, this.settings.connectionLifetimeDither);
    }
  }

  /** Where a new request or WebSocket session starts: the route's targets in turn. */
  targetCursor(route: Route): TargetCursor {
    if (route.targets.length === 1) return new TargetCursor(route, 0);
    const next = this.roundRobin.get(route.id) ?? 0;
    this.roundRobin.set(route.id, (next + 1) % route.targets.length);
    return new TargetCursor(route, next);
  }

  /**
   * A client's headers toward one of the route's targets: forwarding rules, route headers,
   * and the Host of route `as_host`, else the target's `host=`, else the client's.
   */
  backendHeaders(
    client: ClientRequestInfo,
    route: Route,
    target: Pick<RouteTarget, 'hostHeader'>,
    isFromUpstream = false,
    /** Sent as `Connection-Id` on a GRIP route, unless an upstream GRIP proxy holds. */
    connectionId?: string,
  ): string[] {
    return buildBackendHeaders(client, {
      isGripKept: isFromUpstream,
      connectionId: isFromUpstream || route.isNoGrip ? undefined : connectionId,
      xForwardedFor: this.settings.xForwardedFor,
      xForwardedProto: this.settings.xForwardedProto,
      trustedProxies: this.trustedProxies,
      host: route.asHost ?? target.hostHeader ?? client.host,
      setHeaders: route.setHeaders,
      removeHeaders: route.removeHeaders,
    });
  }

  /**
   * Adds Grip-Sig (when the route signs) and Grip-Feature to a flat [name, value, ...] list,
   * unless the route is `no_grip`. Every backend request goes through here, so it appends to
   * the caller's list rather than building pairs.
   */
  appendGripRequestHeaders(route: Route, headers: string[]): void {
    if (route.isNoGrip) return;
    const sig = this.signers.current(route);
    if (sig) headers.push('grip-sig', sig);
    headers.push('grip-feature', gripFeatureHeader);
  }

  onRequestHeld(request: ForwardedRequest): void {
    this.inFlight.delete(request);
  }

  onRequestAborted(request: ForwardedRequest): void {
    if (!this.inFlight.has(request)) return;
    this.inFlight.delete(request);
    routeLog(this.log, request.route).info(
      {
        method: request.client.method,
        path: request.client.url,
        route: request.route.id,
        target: request.targets.label,
      },
      'client aborted the request',
    );
  }

  onRequestDone(
    request: ForwardedRequest,
    status: number,
    bytes: number,
    durationMs: number,
  ): void {
    this.inFlight.delete(request);
    this.stats.onResponse(request.route.id, status);
    routeLog(this.log, request.route).info(
      {
        method: request.client.method,
        path: request.client.url,
        status,
        durationMs: Math.round(durationMs * 10) / 10,
        bytes,
        route: request.route.id,
        target: request.targets.label,
        // Undefined fields are left out of the line; one object shape either way.
        client: this.isAccessLogClient ? request.client.remoteAddress : undefined,
        userAgent: this.isAccessLogClient ? request.client.userAgent || undefined : undefined,
      },
      'request',
    );
  }

  /** The client's address and user agent for a log line, unless --no-access-log-client. */
  clientFields(client: ClientRequestInfo): { client?: string; userAgent?: string } {
    if (!this.isAccessLogClient) return {};
    return { client: client.remoteAddress, userAgent: client.userAgent || undefined };
  }
}
