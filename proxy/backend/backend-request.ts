import type { Dispatcher, Pool } from 'undici';
import { rawHeaderPairs } from '../http/response-headers.js';
import type { RouteTarget } from '../../src/routes/route.js';
import type { BackendPools } from './backend-pools.js';
import { isConnectErrorCode } from './connect-error.js';
import type { TargetCursor } from './target-cursor.js';

/** A backend answer read whole. */
export interface BackendReply {
  code: number;
  /** As the backend wrote it. */
  reason: string;
  /** Names as the backend wrote them (Set-Meta-* keeps its case), values as latin1 bytes. */
  headers: [string, string][];
  body: Buffer;
}

export type BackendOutcome =
  | { isOk: true; reply: BackendReply }
  | {
      isOk: false;
      /** For the log line: an error code, or what was wrong. */
      reason: string;
      /** The backend was not reached (or the request surely did not get through): try again. */
      isRetryable: boolean;
      /** No connection could be made at all: the route's next target may be tried. */
      isConnectError: boolean;
      isTimeout: boolean;
    };

/** A request the proxy makes on its own behalf, its answer buffered. */
export interface BackendRequest {
  method: string;
  /** Origin-form target: path and query. */
  path: string;
  /** Flat [name, value, ...] list, Host included; per target when its Host may differ. */
  headers: string[] | ((target: RouteTarget) => string[]);
  body?: Buffer;
  /** For the answer's head and between body chunks. */
  timeoutMs: number;
  /** Longer answers fail the request. */
  bodyMax: number;
}

/**
 * Errors after which the request is sent again. Pushpin retries when the backend was not
 * reached (connect, TLS) or the body was not fully sent; undici does not report the latter,
 * so a socket closed before any answer (mostly a kept-alive connection the backend had just
 * closed) counts as not sent.
 */
const socketErrorCodes = new Set(['UND_ERR_SOCKET', 'ECONNRESET', 'EPIPE', 'UND_ERR_CLOSED']);

/**
 * One request to the cursor's target, failing over to the route's next targets while no
 * connection can be made. Never rejects: failures come back classified. Next links, gone
 * links, hold retries and every WebSocket-over-HTTP request go through here.
 */
export async function requestBackend(
  pools: BackendPools,
  targets: TargetCursor,
  request: BackendRequest,
  onFailOver: (failedLabel: string, reason: string) => void,
): Promise<BackendOutcome> {
  for (;;) {
    const outcome = await requestTarget(pools, targets.target, request);
    if (outcome.isOk || !outcome.isConnectError) return outcome;
    const failed = targets.label;
    if (!targets.failOver()) return outcome;
    onFailOver(failed, outcome.reason);
  }
}

/** One request to one target (a WebSocket-over-HTTP session stays with its target). */
export function requestTarget(
  pools: BackendPools,
  target: RouteTarget,
  request: BackendRequest,
): Promise<BackendOutcome> {
  const headers = typeof request.headers === 'function' ? request.headers(target) : request.headers;
  const pool: Pool = pools.get(target);
  return new Promise((resolve) => {
    pool.dispatch(
      {
        method: request.method,
        path: request.path,
        headers,
        body: request.body ?? null,
        headersTimeout: request.timeoutMs,
        bodyTimeout: request.timeoutMs,
        reset: false,
      },
      new BufferedReply(request.bodyMax, resolve),
    );
  });
}

/** A dispatch handler rather than `pool.request`, so the answer's raw header names survive. */
class BufferedReply implements Dispatcher.DispatchHandler {
  private code = 0;
  private reason = '';
  private headers: [string, string][] = [];
  private readonly chunks: Buffer[] = [];
  private size = 0;
  private isDone = false;

  constructor(
    private readonly bodyMax: number,
    private readonly resolve: (outcome: BackendOutcome) => void,
  ) {}

  /** undici recognises the handler API by this method. */
  onRequestStart(): void {}

  onResponseStart(
    controller: Dispatcher.DispatchController,
    statusCode: number,
    _headers: unknown,
    statusMessage?: string,
  ): void {
    if (statusCode < 200) return;
    this.code = statusCode;
    this.reason = statusMessage ?? '';
    this.headers = rawHeaderPairs((controller.rawHeaders as (Buffer | string)[] | null) ?? []);
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    this.size += chunk.length;
    if (this.size > this.bodyMax) {
      controller.abort(new Error(`backend answer larger than ${this.bodyMax} bytes`));
      return;
    }
    this.chunks.push(chunk);
  }

  onResponseEnd(): void {
    if (this.isDone) return;
    this.isDone = true;
    this.resolve({
      isOk: true,
      reply: {
        code: this.code,
        reason: this.reason,
        headers: this.headers,
        body: Buffer.concat(this.chunks, this.size),
      },
    });
  }

  onResponseError(_controller: Dispatcher.DispatchController, error: Error): void {
    if (this.isDone) return;
    this.isDone = true;
    const code = (error as NodeJS.ErrnoException).code ?? '';
    const isConnectError = isConnectErrorCode(code) || isTlsError(code);
    const isRetryable = isConnectError || (this.code === 0 && socketErrorCodes.has(code));
    this.resolve({
      isOk: false,
      reason: this.size > this.bodyMax ? error.message : code || error.message,
      isRetryable,
      isConnectError,
      isTimeout: code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT',
    });
  }
}

function isTlsError(code: string): boolean {
  return (
    code.startsWith('ERR_TLS_') ||
    code.startsWith('ERR_SSL_') ||
    code.includes('CERT') ||
    code === 'DEPTH_ZERO_SELF_SIGNED_CERT' ||
    code === 'SELF_SIGNED_CERT_IN_CHAIN'
  );
}
