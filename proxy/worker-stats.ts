import {
  BucketCounts,
  backendDurationBounds,
  latencyBounds,
} from '../src/metrics/bucket-counts.js';
import type { RecentError } from '../src/ipc/worker-report.js';
import { preciseNow } from '../src/ipc/clock.js';

/** Why an item published to a listened channel did not reach a connection. */
export type DropReason =
  'slow_client' | 'buffer_limit' | 'filter' | 'sequencing_gap' | 'body_patch';
/**
 * Why a held connection ended. `answered`: a long-poll got its publish; `lifetime`: it was
 * asked to reconnect at its connection lifetime.
 */
export type DisconnectReason =
  | 'client'
  | 'timeout'
  | 'answered'
  | 'backend_close'
  | 'slow_client'
  | 'limit'
  | 'error'
  | 'drain'
  | 'lifetime';

const recentErrorsMax = 20;

/** One route's backend figures. */
export class RouteStats {
  readonly durations = new BucketCounts(backendDurationBounds);
  /** Responses by status code, from the backend or made by thumbtack (502, 504). */
  readonly statuses = new Map<number, number>();
  /** 502 and 504 thumbtack answered itself: the backend was unreachable or too slow. */
  readonly gatewayErrors = new Map<number, number>();
}

/**
 * One worker's counts, kept as plain numbers so that a delivery or a proxied request adds
 * no allocation (prom-client's own observe() allocates per call). Reported once a second
 * (proxy/stats-report.ts); gauges such as open connections are read then, not kept here.
 */
export class WorkerStats {
  deliveries = 0;
  readonly drops: Record<DropReason, number> = {
    slow_client: 0,
    buffer_limit: 0,
    filter: 0,
    sequencing_gap: 0,
    body_patch: 0,
  };
  readonly disconnects: Record<DisconnectReason, number> = {
    client: 0,
    timeout: 0,
    answered: 0,
    backend_close: 0,
    slow_client: 0,
    limit: 0,
    error: 0,
    drain: 0,
    lifetime: 0,
  };
  /** Publish accepted by the handler → written to the socket. */
  readonly latency = new BucketCounts(latencyBounds);
  capRefusals = 0;
  readonly routes = new Map<string, RouteStats>();
  readonly errors: RecentError[] = [];
  /** Item times and write counts waiting for the end of the turn, when writes are done. */
  private readonly written: number[] = [];

  route(id: string): RouteStats {
    let stats = this.routes.get(id);
    if (!stats) this.routes.set(id, (stats = new RouteStats()));
    return stats;
  }

  /** The backend's response head arrived, `seconds` after the client's request did. */
  onBackendHead(routeId: string, seconds: number): void {
    this.route(routeId).durations.observe(seconds);
  }

  /** The client's response is complete (a hold's when the hold ends). */
  onResponse(routeId: string, status: number): void {
    const stats = this.route(routeId);
    stats.statuses.set(status, (stats.statuses.get(status) ?? 0) + 1);
  }

  /** thumbtack answered 502 or 504 for the route (a backend it could not use). */
  onGatewayError(routeId: string, status: number): void {
    const stats = this.route(routeId);
    stats.gatewayErrors.set(status, (stats.gatewayErrors.get(status) ?? 0) + 1);
    this.noteError('backend', `${status} on route ${routeId}`);
  }

  /** `channel`: where the item was published, when one item is concerned. */
  drop(reason: DropReason, channel?: string): void {
    this.drops[reason]++;
    if (reason === 'filter') return; // a filter drops on purpose
    this.noteError('drop', channel ? `${reason} on channel ${channel}` : reason);
  }

  disconnect(reason: DisconnectReason): void {
    this.disconnects[reason]++;
    if (reason === 'slow_client' || reason === 'limit' || reason === 'error') {
      this.noteError('disconnect', reason);
    }
  }

  /**
   * `count` connections were handed an item published at `time` (preciseNow) in this turn.
   * Writes are flushed at the end of the turn (proxy/turn-flush.ts); the latency is taken
   * after that, once per turn, not once per connection.
   */
  onHandedOut(time: number, count: number): void {
    if (count === 0) return;
    if (this.written.length === 0) setImmediate(this.measureWritten);
    this.written.push(time, count);
  }

  private readonly measureWritten = (): void => {
    const now = preciseNow();
    const written = this.written;
    for (let at = 0; at < written.length; at += 2) {
      this.latency.observe(Math.max(0, now - written[at]!) / 1000, written[at + 1]!);
    }
    written.length = 0;
  };

  private noteError(kind: RecentError['kind'], text: string): void {
    this.errors.push({ at: Date.now(), kind, text });
    if (this.errors.length > recentErrorsMax) this.errors.shift();
  }
}
