import { randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import type { Dispatcher } from 'undici';
import type { HttpResponse } from 'uWebSockets.js';
import type { Route } from '../../src/routes/route.js';
import type { BackendTarget } from '../backend/backend-pools.js';
import type { BackendReply } from '../backend/backend-request.js';
import type { TargetCursor } from '../backend/target-cursor.js';
import type { Hold } from '../hold/hold.js';
import type { ProxyContext } from '../proxy-context.js';
import type { ClientRequestInfo } from './request-headers.js';
import { rawHeaderPairs, writeRelayedRawHeaders } from './response-headers.js';
import { sendError } from './error-response.js';
import { preciseNow } from '../../src/ipc/clock.js';
import { isConnectErrorCode } from '../backend/connect-error.js';
import { flushAtTurnEnd } from '../turn-flush.js';
import { isGripRawResponse } from '../../src/grip/instruct.js';
import { routeLog } from '../route-log.js';

/** GRIP instructions and the request bodies a hold may re-send are capped (Pushpin: 100,000). */
export const gripBufferMax = 100_000;

const noRawHeaders: readonly (Buffer | string)[] = [];
const noClientHeaders: [string, string][] = [];

/**
 * One client request on its way to the backend and back. It owns the uWS response until
 * it ends, streams bodies both ways with backpressure, fails over to the route's next
 * target when a connection cannot be made, and hands GRIP answers to the hold layer.
 */
export class ForwardedRequest implements Dispatcher.DispatchHandler {
  private readonly startedAt = performance.now();
  /** preciseNow() when the request left for the backend: holds take items published after it. */
  readonly sentAt = preciseNow();
  /** `Connection-Id` on GRIP routes: publishes to `$connection:<id>` reach its hold. */
  readonly connectionId: string | undefined;
  /** The hold that took over the client connection: told when the client goes. */
  heldBy: Hold | undefined;
  private controller: Dispatcher.DispatchController | undefined;
  /** The target this request went to last: the one that answered, once it has. */
  readonly targets: TargetCursor;
  private bodyStream: Readable | undefined;
  /** Kept while small so a failover or a GRIP retry can re-send it. */
  private bodyCopy: Buffer[] | undefined;
  private bodyCopyBytes = 0;
  /**
   * Every body chunk received while no attempt has begun sending: on a failover to the next
   * target they are re-sent, whatever the body size. Dropped once a backend connection takes
   * the body; bounded meanwhile because the client is paused at the stream's high-water mark.
   */
  private unsentChunks: Buffer[] | undefined;
  private isBodyComplete = false;
  private isClientPaused = false;
  isAborted = false;
  private isFromUpstream = false;
  private isResponded = false;
  private isGrip = false;
  private gripChunks: Buffer[] = [];
  private gripBytes = 0;
  private status = 0;
  private reason = '';
  private rawHeaders: readonly (Buffer | string)[] = noRawHeaders;
  private contentLength = -1;
  private bytesOut = 0;
  private pending: Buffer | undefined;
  private isHeadPending = false;
  private pendingOffset = 0;
  /** Toward the backend; undefined once the backend has answered a GRIP route. */
  private headers: string[] | undefined;

  constructor(
    private readonly ctx: ProxyContext,
    readonly res: HttpResponse,
    readonly client: ClientRequestInfo,
    readonly route: Route,
    readonly path: string,
    readonly hasBody: boolean,
    /** GRIP routes hand their answers to this; plain routes pass everything through. */
    private onGrip: ((request: ForwardedRequest, reply: BackendReply) => void) | undefined,
  ) {
    this.targets = ctx.targetCursor(route);
    this.connectionId = onGrip ? randomUUID() : undefined;
    this.headers = this.backendHeadersFor(this.targets.target);
    res.onAborted(() => this.onClientAborted());
    if (hasBody) {
      this.bodyCopy = [];
      this.unsentChunks = [];
      res.onData((chunk, isLast) => this.onClientData(chunk, isLast));
    } else {
      this.isBodyComplete = true;
    }
  }

  /** This request's headers toward a target: its `host=` may name another Host. */
  backendHeadersFor(target: BackendTarget): string[] {
    const { ctx, client, route } = this;
    const headers = ctx.backendHeaders(
      client,
      route,
      target,
      this.isFromUpstream,
      this.connectionId,
    );
    if (!this.isFromUpstream) ctx.appendGripRequestHeaders(route, headers);
    return headers;
  }

  /**
   * The client is an upstream GRIP proxy (its Grip-Sig verified against `--upstream-key`):
   * its `Grip-*` headers go to the backend, no Grip-Sig of ours does, and the backend's GRIP
   * answer goes back to it untouched, for it to act on. Before `start()`.
   */
  trustUpstream(): void {
    this.isFromUpstream = true;
    this.onGrip = undefined;
    this.headers = this.backendHeadersFor(this.targets.target);
  }

  /** The request body as received so far, when small enough to have been kept. */
  bodyBuffer(): Buffer | undefined {
    return this.bodyCopy && this.isBodyComplete ? Buffer.concat(this.bodyCopy) : undefined;
  }

  /**
   * A stream hold never re-sends the request (only a response hold retries): it may last
   * hours, so the client's headers and body go now.
   */
  forgetResendState(): void {
    this.client.headers = noClientHeaders;
    this.bodyCopy = undefined;
  }

  start(): void {
    const target = this.targets.target;
    let body: Buffer | Readable | null = null;
    if (this.hasBody) {
      if (this.isBodyComplete && this.bodyCopy) body = Buffer.concat(this.bodyCopy);
      else body = this.createBodyStream();
    }
    this.ctx.pools.get(target).dispatch(
      {
        path: this.path,
        method: this.client.method,
        headers: this.headers!,
        body,
        headersTimeout: this.ctx.backendTimeoutMs,
        bodyTimeout: 0,
        reset: false,
      },
      this,
    );
  }

  private createBodyStream(): Readable {
    const stream = new Readable({
      highWaterMark: 64 * 1024,
      read: () => {
        if (this.isClientPaused && !this.isResponded && !this.isAborted) {
          this.isClientPaused = false;
          this.res.resume();
        }
      },
    });
    for (const chunk of this.unsentChunks ?? []) stream.push(chunk);
    if (this.isBodyComplete) stream.push(null);
    this.bodyStream = stream;
    return stream;
  }

  private onClientData(chunk: ArrayBuffer, isLast: boolean): void {
    const copy = Buffer.copyBytesFrom(new Uint8Array(chunk));
    if (this.bodyCopy) {
      this.bodyCopyBytes += copy.length;
      if (this.bodyCopyBytes <= gripBufferMax) this.bodyCopy.push(copy);
      else this.bodyCopy = undefined;
    }
    this.unsentChunks?.push(copy);
    if (isLast) this.isBodyComplete = true;
    const stream = this.bodyStream;
    if (!stream) return;
    if (copy.length > 0 && !stream.push(copy) && !isLast && !this.isClientPaused) {
      this.isClientPaused = true;
      this.res.pause();
    }
    if (isLast) stream.push(null);
  }

  private onClientAborted(): void {
    this.isAborted = true;
    this.heldBy?.abort();
    this.controller?.abort(new Error('client aborted'));
    this.bodyStream?.destroy();
    this.ctx.onRequestAborted(this);
  }

  // undici dispatch handler

  /** undici calls this once connected, right before it writes the request (and body). */
  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.controller = controller;
    this.unsentChunks = undefined;
    if (this.isAborted) controller.abort(new Error('client aborted'));
  }

  onResponseStart(
    controller: Dispatcher.DispatchController,
    statusCode: number,
    headers: Record<string, string | string[] | undefined>,
    statusMessage?: string,
  ): void {
    if (statusCode < 200) return; // 1xx: uWS cannot relay interim responses; wait for the final one
    this.ctx.stats.onBackendHead(this.route.id, (performance.now() - this.startedAt) / 1000);
    this.status = statusCode;
    this.reason = statusMessage ?? '';
    this.rawHeaders = (controller.rawHeaders as (Buffer | string)[] | null) ?? noRawHeaders;
    const length = headers['content-length'];
    this.contentLength = typeof length === 'string' ? Number(length) : -1;
    if (this.isAborted) return;
    if (this.onGrip && isGripRawResponse(this.rawHeaders)) {
      this.isGrip = true;
      return;
    }
    if (this.client.method === 'HEAD' || statusCode === 204 || statusCode === 304) {
      this.res.cork(() => {
        this.writeHead();
        this.finishWithoutBody();
      });
      return;
    }
    // The head goes out with the first body bytes, in one send: undici usually hands over
    // head, body and end of a small response in the same turn. A body that is slow to come
    // must not hold the head back, so it is flushed at the end of this turn regardless.
    this.isHeadPending = true;
    flushAtTurnEnd(this);
  }

  /** Status line and relayed headers; call inside a cork. */
  private writeHead(): void {
    this.isHeadPending = false;
    this.res.writeStatus(`${this.status} ${this.reason}`);
    writeRelayedRawHeaders(this.res, this.rawHeaders);
  }

  /** End of the turn that received the head: send it if no body bytes took it along. */
  flush(): void {
    if (!this.isHeadPending || this.isAborted || this.isResponded) return;
    this.res.cork(() => this.writeHead());
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    if (this.isAborted || this.isResponded) return;
    if (this.isGrip) {
      this.gripBytes += chunk.length;
      if (this.gripBytes > gripBufferMax) {
        controller.abort(new Error('GRIP instruct body too large'));
        return;
      }
      this.gripChunks.push(chunk);
      return;
    }
    this.bytesOut += chunk.length;
    let isWritable = true;
    this.res.cork(() => {
      if (this.isHeadPending) this.writeHead();
      if (this.contentLength >= 0) {
        const offset = this.res.getWriteOffset();
        const [ok, done] = this.res.tryEnd(chunk, this.contentLength);
        if (done) this.markResponded();
        else if (!ok) {
          this.pending = chunk;
          this.pendingOffset = offset;
          isWritable = false;
        }
      } else {
        isWritable = this.res.write(chunk);
      }
    });
    if (!isWritable) {
      controller.pause();
      this.res.onWritable((offset) => this.onClientWritable(offset));
    }
  }

  private onClientWritable(offset: number): boolean {
    if (this.isAborted || this.isResponded) return true;
    const pending = this.pending;
    if (pending) {
      const [ok, done] = this.res.tryEnd(
        pending.subarray(offset - this.pendingOffset),
        this.contentLength,
      );
      if (done) this.markResponded();
      if (!ok && !done) return false;
      this.pending = undefined;
    }
    this.controller?.resume();
    return true;
  }

  onResponseEnd(): void {
    if (this.isAborted || this.isResponded) return;
    if (this.isGrip) {
      const reply: BackendReply = {
        code: this.status,
        reason: this.reason,
        headers: rawHeaderPairs(this.rawHeaders),
        body: Buffer.concat(this.gripChunks, this.gripBytes),
      };
      // The exchange is over, and a hold may last hours: undici's request state (the
      // controller retains the request, its handler and the raw header buffers) goes now.
      this.controller = undefined;
      this.rawHeaders = noRawHeaders;
      this.headers = undefined;
      this.gripChunks = [];
      this.onGrip!(this, reply);
      return;
    }
    if (this.pending) return; // the last bytes wait for onWritable, which ends the response
    if (this.contentLength > 0) {
      // Shorter than announced: cut the connection so the client sees a truncated body.
      this.res.cork(() => this.res.close());
      this.markResponded();
      return;
    }
    this.res.cork(() => {
      if (this.isHeadPending) this.writeHead();
      this.res.end();
    });
    this.markResponded();
  }

  onResponseError(_controller: Dispatcher.DispatchController, error: Error): void {
    if (this.isAborted || this.isResponded) return;
    const code = (error as NodeJS.ErrnoException).code ?? '';
    const target = this.targets.label;
    if (
      this.status === 0 &&
      isConnectErrorCode(code) &&
      this.canRetryBody() &&
      this.targets.failOver()
    ) {
      routeLog(this.ctx.log, this.route).warn(
        { route: this.route.id, target, err: code },
        'backend unreachable, trying the next target',
      );
      this.headers = this.backendHeadersFor(this.targets.target);
      this.start();
      return;
    }
    const isTimeout = code === 'UND_ERR_HEADERS_TIMEOUT';
    routeLog(this.ctx.log, this.route).error(
      { route: this.route.id, target, err: code || error.message },
      isTimeout ? 'backend timed out' : 'backend request failed',
    );
    if (this.status !== 0 && !this.isGrip) {
      // Headers already went out: all we can do is cut the connection so the client sees it.
      this.res.cork(() => this.res.close());
      this.markResponded();
      return;
    }
    const debugText = this.route.isDebug
      ? `${code || error.message} (target ${target})`
      : undefined;
    const status = isTimeout ? 504 : 502;
    this.ctx.stats.onGatewayError(this.route.id, status);
    this.respondError(status, debugText);
  }

  private canRetryBody(): boolean {
    return (
      !this.hasBody ||
      this.unsentChunks !== undefined ||
      (this.isBodyComplete && this.bodyCopy !== undefined)
    );
  }

  respondError(code: 502 | 504 | 400, debugText?: string): void {
    sendError(this.res, code, debugText);
    this.status = code;
    this.markResponded();
  }

  private finishWithoutBody(): void {
    // uWS 20.30 closes the client connection after endWithoutBody(length), so the length a
    // HEAD (or 304) answer reports is written as a plain header. 204 never carries one.
    if (this.contentLength >= 0 && this.status !== 204) {
      this.res.writeHeader('Content-Length', String(this.contentLength));
    }
    this.res.endWithoutBody();
    this.markResponded();
  }

  /** A hold owns the client connection now; the access line is logged when it ends. */
  markHeld(): void {
    this.ctx.onRequestHeld(this);
  }

  /** The response is complete (or cut); logs the access line. */
  markResponded(status?: number, bytes?: number): void {
    if (this.isResponded) return;
    this.isResponded = true;
    if (status !== undefined) this.status = status;
    if (bytes !== undefined) this.bytesOut = bytes;
    this.ctx.onRequestDone(this, this.status, this.bytesOut, performance.now() - this.startedAt);
  }
}
