import type { Route, RouteTarget } from '../../src/routes/route.js';

/**
 * Which of a route's targets one request or WebSocket session uses. It starts at the
 * target the route's round robin gives it and, while no connection can be made, fails over
 * once through the others (Pushpin's rule: only when nothing reached the backend).
 */
export class TargetCursor {
  private tried = 1;

  constructor(
    private readonly route: Route,
    private index: number,
  ) {}

  get target(): RouteTarget {
    return this.route.targets[this.index]!;
  }

  /** `host:port`, as log lines name a target. */
  get label(): string {
    const target = this.target;
    return `${target.host}:${target.port}`;
  }

  /** Moves to the next target not tried yet; false when every target has been tried. */
  failOver(): boolean {
    if (this.tried >= this.route.targets.length) return false;
    this.tried++;
    this.index = (this.index + 1) % this.route.targets.length;
    return true;
  }
}
