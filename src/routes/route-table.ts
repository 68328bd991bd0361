import { RoutesSyntaxError } from '../errors.js';
import type { Route } from './route.js';

/** What matching needs to know about a client request. */
export interface RouteRequest {
  /** As in the Host header without the port (an IPv6 literal keeps its brackets). */
  host: string;
  /** Path as received, still percent-encoded, without the query string. */
  path: string;
  isTls: boolean;
  isWebSocket: boolean;
}

interface WildcardHost {
  pattern: RegExp;
  /** Non-`*` characters: the more a pattern spells out, the more specific it is. */
  literalLength: number;
  rules: Route[];
}

/** Routes arranged for matching; build it with `buildRouteTable`. */
export interface RouteTable {
  /** Every route kept, in file order. */
  readonly routes: readonly Route[];
  /** Exact hosts; each list is sorted most specific first, so the first match wins. */
  readonly byHost: ReadonlyMap<string, readonly Route[]>;
  /** Host patterns, most specific first. */
  readonly wildcardHosts: readonly Readonly<WildcardHost>[];
  /** The `*` rules. */
  readonly anyHost: readonly Route[];
}

/**
 * Arranges parsed routes (from one file, or a file plus `--route` lines) for matching.
 * A route whose domain already has a rule with the same proto/ssl/path_beg is skipped,
 * as Pushpin does, and reported in `warnings` for the caller to log. Two kept routes
 * with the same id throw a RoutesSyntaxError naming both places.
 */
export function buildRouteTable(routes: readonly Route[]): {
  table: RouteTable;
  warnings: string[];
} {
  const warnings: string[] = [];
  const kept: Route[] = [];
  const byId = new Map<string, Route>();
  const byDomain = new Map<string, Route[]>();
  for (const route of routes) {
    const where = `${route.fileName}:${route.line}`;
    if (route.domain !== undefined) {
      const rules = byDomain.get(route.domain) ?? [];
      const same = rules.find((rule) => hasSameCondition(rule, route));
      if (same !== undefined) {
        warnings.push(
          `${where}: skipping route "${route.id}": same condition as ${same.fileName}:${same.line}`,
        );
        continue;
      }
      rules.push(route);
      byDomain.set(route.domain, rules);
    }
    const earlier = byId.get(route.id);
    if (earlier !== undefined) {
      throw new RoutesSyntaxError(
        `${where}: route id "${route.id}" is already used at ${earlier.fileName}:${earlier.line}`,
      );
    }
    byId.set(route.id, route);
    kept.push(route);
  }

  const byHost = new Map<string, Route[]>();
  const wildcardHosts: WildcardHost[] = [];
  let anyHost: Route[] = [];
  for (const [domain, rules] of byDomain) {
    rules.sort(compareSpecificity);
    if (domain === '*') anyHost = rules;
    else if (domain.includes('*')) wildcardHosts.push(toWildcardHost(domain, rules));
    else byHost.set(domain, rules);
  }
  // Stable sort: equally specific patterns keep file order.
  wildcardHosts.sort((a, b) => b.literalLength - a.literalLength);
  return { table: { routes: kept, byHost, wildcardHosts, anyHost }, warnings };
}

/**
 * The route for a request. As in Pushpin, the host picks one group of rules and only that
 * group is searched: the exact host's rules if it has any, else the most specific
 * wildcard pattern matching the host (a pattern's `*` matches one or more characters,
 * dots included), else the `*` rules. Within the group the most specific matching rule
 * wins: one with proto over one without, then the longer path_beg, then one with ssl over
 * one without; on a full tie the earlier line wins.
 */
export function matchRoute(table: RouteTable, request: RouteRequest): Route | undefined {
  const rules = rulesForHost(table, request.host.toLowerCase());
  for (const rule of rules) {
    if (rule.proto !== undefined && (rule.proto === 'ws') !== request.isWebSocket) continue;
    if (rule.isSsl !== undefined && rule.isSsl !== request.isTls) continue;
    if (rule.pathBeg !== undefined && !request.path.startsWith(rule.pathBeg)) continue;
    return rule;
  }
  return undefined;
}

function rulesForHost(table: RouteTable, host: string): readonly Route[] {
  const exact = table.byHost.get(host);
  if (exact !== undefined) return exact;
  for (const wildcard of table.wildcardHosts) {
    if (wildcard.pattern.test(host)) return wildcard.rules;
  }
  return table.anyHost;
}

function hasSameCondition(a: Route, b: Route): boolean {
  return a.proto === b.proto && a.isSsl === b.isSsl && a.pathBeg === b.pathBeg;
}

// Sorting once at build time turns "most specific match" into "first match" per request.
function compareSpecificity(a: Route, b: Route): number {
  return (
    Number(b.proto !== undefined) - Number(a.proto !== undefined) ||
    (b.pathBeg?.length ?? 0) - (a.pathBeg?.length ?? 0) ||
    Number(b.isSsl !== undefined) - Number(a.isSsl !== undefined)
  );
}

function toWildcardHost(domain: string, rules: Route[]): WildcardHost {
  const source = domain
    .split('*')
    .map((part) => part.replace(/[.\\^$+?()[\]{}|-]/g, '\\$&'))
    .join('.+');
  return {
    pattern: new RegExp(`^${source}$`),
    literalLength: domain.replaceAll('*', '').length,
    rules,
  };
}

/** A Host header as RouteRequest wants it: without the port; an IPv6 literal keeps its brackets. */
export function hostWithoutPort(host: string): string {
  if (host.startsWith('[')) {
    const end = host.indexOf(']');
    return end === -1 ? host : host.slice(0, end + 1);
  }
  const colon = host.indexOf(':');
  return colon === -1 ? host : host.slice(0, colon);
}
