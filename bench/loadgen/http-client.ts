import net from 'node:net';
import { performance } from 'node:perf_hooks';
import type { Histogram } from '../histogram.js';
import { ChunkedDecoder, type ChunkSink } from './chunked-decoder.js';
import { parseResponseHead } from './response-head.js';
import type { SseTarget } from './sse-client.js';

/** Outcome counters of every request loop of a generator. */
export interface RequestStats {
  responses: number;
  /** Status code → count, for every response that was not 2xx. */
  statuses: Record<string, number>;
  /** Socket error code (or "closed") → count. */
  errors: Record<string, number>;
  latency: Histogram;
}

const headMax = 65_536;

/**
 * A keep-alive connection sending one GET at a time, as long as `isRunning()` says so. A
 * closed connection is reopened (the proxy may close after an error), at most `maxReconnects`.
 */
export class RequestLoop implements ChunkSink {
  private socket!: net.Socket;
  private readonly request: Buffer;
  private buf: Buffer | undefined;
  private head = true;
  private bodyLeft = 0;
  private isChunked = false;
  private isClose = false;
  private readonly decoder = new ChunkedDecoder();
  private sentAt = 0;
  private status = 0;
  private reconnects = 0;
  private isDone = false;

  constructor(
    private readonly target: SseTarget,
    private readonly stats: RequestStats,
    private readonly isRunning: () => boolean,
    private readonly onDone: () => void,
    private readonly maxReconnects = 1_000,
  ) {
    this.request = Buffer.from(
      `GET ${target.path} HTTP/1.1\r\nHost: ${target.host}:${target.port}\r\nUser-Agent: thumbtack-bench\r\n\r\n`,
    );
    this.open();
  }

  onBody(): void {}

  onChunkEnd(): void {}

  onBodyEnd(): void {
    this.complete();
  }

  private open(): void {
    this.buf = undefined;
    this.head = true;
    const socket = net.connect({
      host: this.target.host,
      port: this.target.port,
      localAddress: this.target.localAddress,
    });
    this.socket = socket;
    socket.setNoDelay(true);
    socket.on('connect', () => this.send());
    socket.on('data', (data: Buffer) => this.onData(data));
    socket.on('error', (err: NodeJS.ErrnoException) =>
      this.count(this.stats.errors, err.code ?? 'error'),
    );
    socket.on('close', () => this.onClose(socket));
  }

  private send(): void {
    if (!this.isRunning()) {
      this.finish();
      return;
    }
    this.head = true;
    this.sentAt = performance.now();
    this.socket.write(this.request);
  }

  private onData(data: Buffer): void {
    let chunk = data;
    if (this.head) {
      const buf = this.buf ? Buffer.concat([this.buf, data]) : data;
      const head = parseResponseHead(buf);
      if (!head) {
        this.buf = buf.length > headMax ? undefined : buf;
        return;
      }
      this.buf = undefined;
      this.head = false;
      this.status = head.status;
      this.isChunked = head.isChunked;
      this.isClose = head.isClose;
      this.bodyLeft = head.contentLength < 0 ? 0 : head.contentLength;
      this.decoder.reset();
      chunk = buf.subarray(head.bodyStart);
      if (!this.isChunked && this.bodyLeft === 0) {
        this.complete();
        return;
      }
    }
    if (this.isChunked) {
      this.decoder.feed(chunk, 0, this);
      return;
    }
    this.bodyLeft -= chunk.length;
    if (this.bodyLeft <= 0) this.complete();
  }

  private complete(): void {
    this.stats.latency.record(performance.now() - this.sentAt);
    this.stats.responses++;
    if (this.status < 200 || this.status >= 300)
      this.count(this.stats.statuses, String(this.status));
    this.head = true;
    if (this.isClose) {
      this.socket.destroy(); // onClose reconnects
      return;
    }
    this.send();
  }

  private onClose(socket: net.Socket): void {
    if (socket !== this.socket || this.isDone) return;
    if (!this.head || this.buf) this.count(this.stats.errors, 'closed mid-response');
    if (this.isRunning() && this.reconnects++ < this.maxReconnects) {
      this.open();
      return;
    }
    this.finish();
  }

  private finish(): void {
    if (this.isDone) return;
    this.isDone = true;
    this.socket.destroy();
    this.onDone();
  }

  private count(map: Record<string, number>, key: string): void {
    map[key] = (map[key] ?? 0) + 1;
  }
}
