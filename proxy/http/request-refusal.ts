import type { HttpResponse } from 'uWebSockets.js';
import type { ProxyContext } from '../proxy-context.js';
import { sendError } from './error-response.js';
import type { ClientRequestInfo } from './request-headers.js';

/*
 * Requests refused before routing, each because two hops could read it differently:
 * - RFC 9112 §6.3: a request whose body length is ambiguous is invalid. A proxy that
 *   forwards one lets the hop in front of it and the backend disagree on where the next
 *   request starts (request smuggling); uWS 20.30 frames the body by the first
 *   Content-Length it reads. These are refused and their connection closed before anything
 *   after them is read.
 * - A path with `.` or `..` segments (RFC 3986 §5.2.4) would be matched against the routes
 *   as written while the backend resolves it, so `/x/../admin` could pass a `*` route to
 *   reach what `path_beg=/admin` guards. Clients resolve these before sending.
 */

/** A `.` or `..` segment, percent-encoded or not. */
const dotSegment = /(?:^|\/)(?:\.|%2e){1,2}(?:\/|$)/i;

/** Why the request is refused, or undefined when it is fine. `path` is without the query. */
export function requestProblem(
  headers: readonly [string, string][],
  path: string,
): string | undefined {
  return (
    requestFramingProblem(headers) ??
    (dotSegment.test(path) ? 'the path has a . or .. segment' : undefined)
  );
}

/** Why the request's body framing is ambiguous, or undefined when it is not. */
function requestFramingProblem(headers: readonly [string, string][]): string | undefined {
  let contentLength: string | undefined;
  let hasTransferEncoding = false;
  for (const [name, value] of headers) {
    if (name === 'content-length') {
      if (contentLength !== undefined) return 'more than one Content-Length header';
      if (!/^\d+$/.test(value)) return `Content-Length ${JSON.stringify(value)} is not a number`;
      contentLength = value;
    } else if (name === 'transfer-encoding') {
      hasTransferEncoding = true;
    }
  }
  if (hasTransferEncoding && contentLength !== undefined) {
    return 'both Content-Length and Transfer-Encoding';
  }
  return undefined;
}

/**
 * Answers 400 naming the problem and closes the connection; logs the access line.
 *
 * Not at once: uWS corks the socket while it parses a read, so a closing answer given here
 * would close only after the requests that follow in the same read were parsed and routed.
 * With this answer still pending, uWS 20.30 drops the connection when another request
 * follows, so a smuggled request never reaches a handler; alone, the 400 goes out.
 */
export function refuseBadRequest(
  ctx: Pick<ProxyContext, 'log' | 'clientFields'>,
  res: HttpResponse,
  client: ClientRequestInfo,
  problem: string,
): void {
  const text = `Bad request: ${problem}.\n`;
  let isAborted = false;
  res.onAborted(() => (isAborted = true));
  setImmediate(() => {
    if (!isAborted) sendError(res, 400, text, true);
    ctx.log.info(
      {
        method: client.method,
        path: client.url,
        status: 400,
        durationMs: 0,
        bytes: isAborted ? 0 : text.length,
        route: null,
        target: null,
        err: isAborted
          ? `${problem}; uWS dropped the connection: more bytes followed the request`
          : problem,
        ...ctx.clientFields(client),
      },
      'request',
    );
  });
}
