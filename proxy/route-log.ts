import { childAtLevel, type Logger } from '../src/log.js';
import type { Route } from '../src/routes/route.js';

/** Pushpin's numeric levels, as route `log_level=` gives them: 0 error ... 3 debug. */
const pushpinLevels = ['error', 'warn', 'info', 'debug'] as const;

/** One logger per route with `log_level=`; a reload's new routes get their own. */
const byRoute = new WeakMap<Route, Logger>();

/**
 * The logger for a line about one route's request or connection: the worker's own, or for a
 * route with `log_level=` one at that level (above 3 is debug), whatever `--log-level` says.
 */
export function routeLog(log: Logger, route: Route): Logger {
  if (route.logLevel === undefined) return log;
  let routeLogger = byRoute.get(route);
  if (!routeLogger) {
    routeLogger = childAtLevel(log, pushpinLevels[Math.min(route.logLevel, 3)]!);
    byRoute.set(route, routeLogger);
  }
  return routeLogger;
}
