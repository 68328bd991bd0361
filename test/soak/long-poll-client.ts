import net from 'node:net';
import { epochMs } from '../../bench/clock.js';
import { ChunkedDecoder, type ChunkSink } from '../../bench/loadgen/chunked-decoder.js';
import { parseResponseHead, type ResponseHead } from '../../bench/loadgen/response-head.js';
import type { SseTarget } from '../../bench/loadgen/sse-client.js';
import type { ChannelReceiver } from './channel-receiver.js';

/** What long-polls count beyond items: requests, answers from history, gaps. */
export interface PollCounters {
  polls: number;
  resumed: number;
  gapAnswers: number;
}

const headMax = 16_384;

/**
 * A long-poll client that resumes: each poll names the last position it has
 * (`/poll/<channel>?prev=N`; the backend holds with `Grip-Channel: <channel>; prev-id=N`),
 * so items published between two polls come from thumbtack's history. Answers are an item,
 * `timeout` (poll again) or `gap <last-id>` (history no longer reached N: the backend was
 * asked with Grip-Last; the skipped positions count as lost). A connection the server
 * closes between polls is reopened, as browsers do; an error status ends the client.
 */
export class LongPollConnection implements ChunkSink {
  private socket!: net.Socket;
  private prev: number;
  private buf: Buffer | undefined;
  private head: ResponseHead | undefined;
  private readonly decoder = new ChunkedDecoder();
  private body = '';
  private sentAt = 0;
  private isOpen = false;
  private isInResponse = false;
  /** Reopenings since the last answer: a server that keeps refusing ends the client. */
  private reopened = 0;
  isClosed = false;
  private isClosing = false;

  constructor(
    private readonly target: SseTarget,
    /** The position the client starts after (its first prev-id). */
    readonly startPrev: number,
    private readonly receiver: ChannelReceiver,
    private readonly counters: PollCounters,
    private readonly onOpen: (conn: LongPollConnection, error?: string) => void,
  ) {
    this.prev = startPrev;
    this.connect();
  }

  close(): void {
    this.isClosing = true;
    this.isClosed = true;
    this.socket.destroy();
  }

  onBody(buf: Buffer, start: number, end: number): void {
    this.body += buf.toString('latin1', start, end);
  }

  onChunkEnd(): void {}

  onBodyEnd(): void {
    this.complete();
  }

  private connect(): void {
    const socket = net.connect({
      host: this.target.host,
      port: this.target.port,
      localAddress: this.target.localAddress,
    });
    this.socket = socket;
    socket.setNoDelay(true);
    socket.on('connect', () => {
      if (!this.isOpen) {
        this.isOpen = true;
        this.receiver.confirm();
        this.onOpen(this);
      }
      this.poll();
    });
    socket.on('data', (data: Buffer) => this.onData(data));
    socket.on('error', (err: NodeJS.ErrnoException) =>
      this.onSocketEnd(socket, err.code ?? 'error'),
    );
    socket.on('close', () => this.onSocketEnd(socket, 'closed'));
  }

  private poll(): void {
    if (this.isClosed) return;
    this.head = undefined;
    this.buf = undefined;
    this.body = '';
    this.isInResponse = true;
    this.sentAt = epochMs();
    this.counters.polls++;
    this.socket.write(
      `GET ${this.target.path}?prev=${this.prev} HTTP/1.1\r\nHost: ${this.target.host}:${this.target.port}\r\n\r\n`,
    );
  }

  private onData(data: Buffer): void {
    let rest = data;
    if (!this.head) {
      const buf = this.buf ? Buffer.concat([this.buf, data]) : data;
      const head = parseResponseHead(buf);
      if (!head) {
        if (buf.length > headMax) this.fail('response head too large');
        else this.buf = buf;
        return;
      }
      this.buf = undefined;
      this.head = head;
      this.decoder.reset();
      rest = buf.subarray(head.bodyStart);
    }
    if (this.head.isChunked) {
      try {
        this.decoder.feed(rest, 0, this);
      } catch (err) {
        this.fail((err as Error).message);
      }
      return;
    }
    this.body += rest.toString('latin1');
    if (this.body.length >= Math.max(0, this.head.contentLength)) this.complete();
  }

  private complete(): void {
    const head = this.head!;
    this.isInResponse = false;
    this.reopened = 0;
    if (head.status !== 200) {
      this.fail(`status ${head.status}`);
      return;
    }
    const text = this.body.trimEnd();
    if (text.startsWith('m')) {
      const now = epochMs();
      const first = text.indexOf(' ');
      const stamp = Number(text.slice(first + 1, text.indexOf(' ', first + 1)));
      if (this.receiver.onItem(text, 0, text.length, now) === 1 && stamp < this.sentAt)
        this.counters.resumed++;
      if (this.receiver.lastSeq > this.prev) this.prev = this.receiver.lastSeq;
    } else if (text.startsWith('gap ')) {
      // History did not reach prev: the positions up to the channel's last are not coming.
      this.counters.gapAnswers++;
      const last = Number(text.slice(4));
      if (last > this.prev) this.prev = last;
    } else if (text !== 'timeout') {
      this.fail(`unexpected answer ${JSON.stringify(text.slice(0, 40))}`);
      return;
    }
    if (head.isClose)
      this.socket.destroy(); // reopened by onSocketEnd
    else this.poll();
  }

  private onSocketEnd(socket: net.Socket, reason: string): void {
    if (socket !== this.socket || this.isClosed) return;
    if (!this.isOpen) {
      this.isClosed = true;
      this.onOpen(this, reason);
      return;
    }
    if (!this.isInResponse && this.reopened++ < 3) {
      this.connect(); // the server closed a kept-alive connection between polls
      return;
    }
    this.fail(this.isInResponse && reason === 'closed' ? 'closed mid-poll' : reason);
  }

  private fail(reason: string): void {
    if (this.isClosed) return;
    this.isClosed = true;
    this.socket.destroy();
    if (!this.isClosing) this.receiver.onDrop(reason);
  }
}
