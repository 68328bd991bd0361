import { reasonPhrase } from '../../src/grip/instruct.js';
import type { Route } from '../../src/routes/route.js';
import type { BackendTarget } from './backend-pools.js';
import type { BackendReply } from '../http/forwarded-request.js';
import type { ProxyContext } from '../proxy-context.js';
import { isConnectErrorCode } from './connect-error.js';

export interface BackendFetch {
  method: string;
  /** Origin-form target: path and query. */
  path: string;
  /** Flat [name, value, ...] list, Host included; per target when its Host may differ. */
  headers: string[] | ((target: BackendTarget) => string[]);
  body?: Buffer;
}

/**
 * A request the proxy makes on its own behalf (next link, gone link, hold retry) through a
 * route's targets, failing over like client requests do; the answer is buffered up to
 * `limit` bytes (GRIP answers are small by protocol).
 */
export async function fetchFromBackend(
  ctx: ProxyContext,
  route: Route,
  request: BackendFetch,
  limit: number,
): Promise<BackendReply> {
  const first = ctx.nextTargetIndex(route);
  let lastError: unknown;
  for (let i = 0; i < route.targets.length; i++) {
    const target = route.targets[(first + i) % route.targets.length]!;
    let reply;
    try {
      reply = await ctx.pools.get(target).request({
        method: request.method,
        path: request.path,
        headers: typeof request.headers === 'function' ? request.headers(target) : request.headers,
        body: request.body ?? null,
        headersTimeout: ctx.backendTimeoutMs,
        bodyTimeout: ctx.backendTimeoutMs,
      });
    } catch (err) {
      lastError = err;
      if (isConnectErrorCode((err as NodeJS.ErrnoException).code)) continue;
      throw err;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of reply.body as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > limit) {
        reply.body.destroy();
        throw new Error(`backend answer larger than ${limit} bytes`);
      }
      chunks.push(chunk);
    }
    const headers: [string, string][] = [];
    for (const [name, value] of Object.entries(reply.headers)) {
      if (Array.isArray(value)) for (const v of value) headers.push([name, v]);
      else if (value !== undefined) headers.push([name, value]);
    }
    return {
      code: reply.statusCode,
      reason: reasonPhrase(reply.statusCode),
      headers,
      body: Buffer.concat(chunks, size),
    };
  }
  throw lastError instanceof Error ? lastError : new Error('no backend target reachable');
}

/** `Grip-Last: <channel>; last-id=<id>` values for channels whose position is known. */
export function gripLastHeaders(prevIds: ReadonlyMap<string, string>): string[] {
  const out: string[] = [];
  for (const [channel, id] of prevIds) out.push('grip-last', `${channel}; last-id=${id}`);
  return out;
}
