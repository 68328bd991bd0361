import type { Dispatcher, Pool } from 'undici';
import { rawHeaderPairs } from '../http/response-headers.js';
import { isConnectErrorCode } from './connect-error.js';

export interface WsBackendReply {
  status: number;
  reason: string;
  /** Names as the backend wrote them (Set-Meta-* keeps its case), values as latin1 bytes. */
  headers: [string, string][];
  body: Buffer;
}

export type WsBackendOutcome =
  | { isOk: true; reply: WsBackendReply }
  | {
      isOk: false;
      /** For the log line: an error code, or what was wrong. */
      reason: string;
      /** The backend was not reached (or the request surely did not get through): try again. */
      isRetryable: boolean;
      /** No connection could be made at all: a handshake may try the route's next target. */
      isConnectError: boolean;
      isTimeout: boolean;
    };

export interface WsBackendRequest {
  method: 'POST';
  path: string;
  /** Flat [name, value, ...] list, Host included. */
  headers: string[];
  body: Buffer;
  headersTimeoutMs: number;
  /** Longer answers fail the request (WebSocket-over-HTTP: 1,000,000 bytes). */
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
 * One buffered request to a backend for a WebSocket session, as a dispatch handler so the
 * answer's raw header names survive. Never rejects: failures come back classified.
 */
export function requestBackend(pool: Pool, request: WsBackendRequest): Promise<WsBackendOutcome> {
  return new Promise((resolve) => {
    pool.dispatch(
      {
        method: request.method,
        path: request.path,
        headers: request.headers,
        body: request.body,
        headersTimeout: request.headersTimeoutMs,
        bodyTimeout: request.headersTimeoutMs,
        reset: false,
      },
      new BufferedReply(request.bodyMax, resolve),
    );
  });
}

class BufferedReply implements Dispatcher.DispatchHandler {
  private status = 0;
  private reason = '';
  private headers: [string, string][] = [];
  private readonly chunks: Buffer[] = [];
  private size = 0;
  private isDone = false;

  constructor(
    private readonly bodyMax: number,
    private readonly resolve: (outcome: WsBackendOutcome) => void,
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
    this.status = statusCode;
    this.reason = statusMessage ?? '';
    this.headers = rawHeaderPairs((controller.rawHeaders as (Buffer | string)[] | null) ?? []);
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    this.size += chunk.length;
    if (this.size > this.bodyMax) {
      controller.abort(new Error(`answer body over ${this.bodyMax} bytes`));
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
        status: this.status,
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
    const isRetryable = isConnectError || (this.status === 0 && socketErrorCodes.has(code));
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
