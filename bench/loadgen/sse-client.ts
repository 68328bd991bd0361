import net from 'node:net';
import { epochMs } from '../clock.js';
import { ChunkedDecoder, type ChunkSink } from './chunked-decoder.js';
import { ItemReceiver, type DeliveryStats, type ItemSink } from './delivery-stats.js';
import { connectHeldSocket } from './held-socket.js';
import type { ResponseHead } from './response-head.js';

export interface SseTarget {
  host: string;
  port: number;
  path: string;
  localAddress: string;
  /** Global connection index (the `{i}` of the path). */
  index: number;
}

/** Longest partial line kept between reads: a stream that never sends LF cannot grow it. */
const maxCarry = 65_536;

/**
 * One held SSE connection: sends the request, waits for a 2xx head, then scans the body for
 * `data: ` lines. Chunk and read boundaries are counted so that coalesced writes show.
 */
export class SseConnection implements ChunkSink {
  readonly socket: net.Socket;
  private readonly decoder = new ChunkedDecoder();
  private isChunked = true;
  private carry = '';
  private itemsInChunk = 0;
  private itemsInRead = 0;
  private now = 0;
  isOpen = false;
  isClosed = false;
  /** Closing was asked for by the generator; anything else is a drop. */
  isClosing = false;

  constructor(
    readonly target: SseTarget,
    private readonly stats: DeliveryStats,
    private readonly onOpen: (conn: SseConnection, error?: string) => void,
    private readonly receiver: ItemSink = new ItemReceiver(stats),
  ) {
    this.socket = connectHeldSocket(
      target,
      () =>
        `GET ${target.path} HTTP/1.1\r\nHost: ${target.host}:${target.port}\r\nAccept: text/event-stream\r\n\r\n`,
      {
        onHead: (head, buf) => this.onHead(head, buf),
        onData: (data) => this.onBodyBytes(data),
        onEnd: (reason) => this.fail(reason),
      },
    );
  }

  get isProbed(): boolean {
    return this.receiver.isProbed === true;
  }

  close(): void {
    this.isClosing = true;
    this.socket.destroy();
  }

  onBody(buf: Buffer, start: number, end: number): void {
    this.scan(buf.toString('latin1', start, end));
  }

  onChunkEnd(): void {
    if (this.itemsInChunk > 0) this.stats.onChunk(this.itemsInChunk);
    this.itemsInChunk = 0;
  }

  onBodyEnd(): void {
    this.fail('stream ended');
  }

  private onHead(head: ResponseHead, buf: Buffer): void {
    if (head.status < 200 || head.status >= 300) {
      this.fail(`status ${head.status}`);
      return;
    }
    this.isChunked = head.isChunked;
    this.isOpen = true;
    this.onOpen(this);
    if (head.bodyStart < buf.length) this.onBodyBytes(buf.subarray(head.bodyStart));
  }

  private onBodyBytes(data: Buffer): void {
    this.now = epochMs();
    this.itemsInRead = 0;
    if (this.isChunked) {
      try {
        this.decoder.feed(data, 0, this);
      } catch (err) {
        this.fail((err as Error).message);
        return;
      }
    } else {
      this.scan(data.toString('latin1'));
      this.onChunkEnd(); // without chunking, a read is the only boundary there is
    }
    if (this.itemsInRead > 0) this.stats.onRead(this.itemsInRead);
  }

  /** Handles every complete line; keeps a trailing partial line for the next read. */
  private scan(text: string): void {
    const s = this.carry.length > 0 ? this.carry + text : text;
    let lineStart = 0;
    let nl = s.indexOf('\n', lineStart);
    while (nl !== -1) {
      if (s.startsWith('data: ', lineStart)) {
        const n = this.receiver.onItem(s, lineStart + 6, nl, this.now);
        this.itemsInChunk += n;
        this.itemsInRead += n;
      }
      lineStart = nl + 1;
      nl = s.indexOf('\n', lineStart);
    }
    this.carry = lineStart < s.length && s.length - lineStart < maxCarry ? s.slice(lineStart) : '';
  }

  private fail(reason: string): void {
    if (this.isClosed) return;
    this.isClosed = true;
    this.socket.destroy();
    if (!this.isOpen) {
      this.onOpen(this, reason);
      return;
    }
    if (this.isClosing) return;
    this.stats.onDrop(reason);
    this.receiver.onDrop?.(reason);
  }
}
