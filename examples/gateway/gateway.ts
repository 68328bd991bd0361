import http from 'node:http';
import type net from 'node:net';
import { createProxyServer } from 'http-proxy-3';
import { RateLimiter, type RateLimitOptions } from './rate-limit.js';

export interface GatewayRoute {
  /** Path prefix this route takes (`/api/`); the longest matching prefix wins. */
  prefix: string;
  /** Upstream base URL (`http://127.0.0.1:7201`); the path is passed on unchanged. */
  target: string;
}

export interface GatewayOptions {
  routes: GatewayRoute[];
  /** API key → consumer name, sent upstream as X-Consumer. */
  apiKeys: Record<string, string>;
  rateLimit: RateLimitOptions;
  /**
   * Milliseconds an upstream response may stay silent before the gateway gives up on it.
   * In front of thumbtack this must outlive held connections (a stream is silent between
   * publishes and keep-alives); behind thumbtack requests are short and this can be short.
   */
  upstreamIdleTimeoutMs: number;
}

/**
 * A small API gateway on http-proxy-3: `GET /healthz` answers itself; every other request
 * needs an API key (`X-API-Key: KEY` or `Authorization: Bearer KEY`, else 401), takes a
 * token from its key's bucket (else 429 with Retry-After), and is proxied to the route its
 * path prefix picks (else 404). WebSocket upgrades go through the same checks and are then
 * proxied as upgrades. Responses stream through unbuffered, every header included, so
 * GRIP instructions (`Grip-*`) reach a thumbtack in front and SSE reaches clients at once.
 */
export function createGateway(options: GatewayOptions): http.Server {
  const limiter = new RateLimiter(options.rateLimit);
  const routes = [...options.routes].sort((a, b) => b.prefix.length - a.prefix.length);
  const proxy = createProxyServer({ xfwd: true, proxyTimeout: options.upstreamIdleTimeoutMs });
  proxy.on('error', (_err, _req, res) => {
    if (res instanceof http.ServerResponse) {
      if (!res.headersSent) reply(res, 502, { error: 'upstream unavailable' });
      else res.destroy();
    } else {
      res.destroy();
    }
  });

  /** The route and consumer for a request, or the refusal to send instead. */
  const admit = (req: http.IncomingMessage): { route: GatewayRoute } | Refusal => {
    const path = req.url ?? '/';
    const route = routes.find((r) => path.startsWith(r.prefix));
    if (!route) return { status: 404, body: { error: `no route for ${path}` } };
    const key = apiKeyOf(req);
    const consumer = key === undefined ? undefined : options.apiKeys[key];
    if (consumer === undefined) {
      return {
        status: 401,
        headers: { 'WWW-Authenticate': 'Bearer' },
        body: { error: 'send an API key: X-API-Key: KEY or Authorization: Bearer KEY' },
      };
    }
    const decision = limiter.take(key!);
    if (!decision.isAllowed) {
      return {
        status: 429,
        headers: { 'Retry-After': String(decision.retryAfterS) },
        body: { error: `rate limit for ${consumer}; retry in ${decision.retryAfterS} s` },
      };
    }
    // Upstream learns who called; a client cannot claim to be someone else.
    req.headers['x-consumer'] = consumer;
    return { route };
  };

  const server = http.createServer((req, res) => {
    if (req.url === '/healthz') return reply(res, 200, { status: 'ok' });
    const admitted = admit(req);
    if (!('route' in admitted)) return reply(res, admitted.status, admitted.body, admitted.headers);
    proxy.web(req, res, { target: admitted.route.target });
  });
  server.on('upgrade', (req: http.IncomingMessage, socket: net.Socket, head: Buffer) => {
    socket.on('error', () => socket.destroy());
    const admitted = admit(req);
    if (!('route' in admitted)) return refuseUpgrade(socket, admitted);
    proxy.ws(req, socket, head, { target: admitted.route.target });
  });
  return server;
}

interface Refusal {
  status: number;
  headers?: Record<string, string>;
  body: object;
}

function apiKeyOf(req: http.IncomingMessage): string | undefined {
  const header = req.headers['x-api-key'];
  if (typeof header === 'string' && header) return header;
  const bearer = /^Bearer\s+(\S+)$/i.exec(req.headers.authorization ?? '');
  return bearer?.[1];
}

function reply(
  res: http.ServerResponse,
  status: number,
  body: object,
  headers: Record<string, string> = {},
): void {
  res.writeHead(status, { 'Content-Type': 'application/json', ...headers });
  res.end(`${JSON.stringify(body)}\n`);
}

/** An upgrade refused with an ordinary HTTP response, then the connection closed. */
function refuseUpgrade(socket: net.Socket, refusal: Refusal): void {
  const body = `${JSON.stringify(refusal.body)}\n`;
  const headers = {
    'Content-Type': 'application/json',
    'Content-Length': String(Buffer.byteLength(body)),
    Connection: 'close',
    ...refusal.headers,
  };
  socket.end(
    `HTTP/1.1 ${refusal.status} ${http.STATUS_CODES[refusal.status]}\r\n` +
      Object.entries(headers)
        .map(([name, value]) => `${name}: ${value}\r\n`)
        .join('') +
      `\r\n${body}`,
  );
}
