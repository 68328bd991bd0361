import crypto from 'node:crypto';
import net from 'node:net';
import { epochMs } from '../clock.js';
import type { Histogram } from '../histogram.js';
import { ItemReceiver, type DeliveryStats, type ItemSink } from './delivery-stats.js';
import { connectHeldSocket } from './held-socket.js';
import type { ResponseHead } from './response-head.js';
import type { SseTarget } from './sse-client.js';

/** Echo round trips of every WebSocket connection of a generator. */
export interface EchoStats {
  sent: number;
  received: number;
  rtt: Histogram;
}

const OP_TEXT = 0x1;
const OP_CLOSE = 0x8;
const OP_PING = 0x9;

/**
 * A minimal WebSocket client: handshake, masked text frames out, unmasked frames in (text,
 * ping, close). Text `e<seq> <stamp>` is an echo coming back; other text is a published item.
 */
export class WsConnection {
  readonly socket: net.Socket;
  private pending: Buffer | undefined;
  private readonly mask = crypto.randomBytes(4);
  private echoSeq = 0;
  /** Echo messages this connection may still send; 0 stops the loop. */
  echoBudget = 0;
  isOpen = false;
  isClosed = false;
  isClosing = false;
  /** The server closed the WebSocket (close frame or socket end) while it should stay. */
  closeReason = '';

  constructor(
    target: SseTarget,
    private readonly stats: DeliveryStats,
    private readonly echo: EchoStats,
    private readonly onOpen: (conn: WsConnection, error?: string) => void,
    private readonly receiver: ItemSink = new ItemReceiver(stats),
  ) {
    this.socket = connectHeldSocket(
      target,
      () => {
        const key = crypto.randomBytes(16).toString('base64');
        return (
          `GET ${target.path} HTTP/1.1\r\nHost: ${target.host}:${target.port}\r\n` +
          `Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${key}\r\n` +
          'Sec-WebSocket-Version: 13\r\n\r\n'
        );
      },
      {
        onHead: (head, buf) => this.onHead(head, buf),
        onData: (data) => this.onFrames(data),
        onEnd: (reason) => this.fail(reason),
      },
    );
  }

  get isProbed(): boolean {
    return this.receiver.isProbed === true;
  }

  /** Sends `count` echo messages at once (the in-flight window or a burst). */
  sendEchoes(count: number): void {
    for (let i = 0; i < count; i++) this.sendEcho();
  }

  close(): void {
    this.isClosing = true;
    this.socket.destroy();
  }

  private sendEcho(): void {
    if (!this.isOpen || this.isClosed) return;
    this.sendText(`e${this.echoSeq++} ${epochMs()}`);
    this.echo.sent++;
  }

  private sendText(text: string): void {
    const payload = Buffer.from(text);
    this.socket.write(this.frame(OP_TEXT, payload));
  }

  private frame(opcode: number, payload: Buffer): Buffer {
    const length = payload.length;
    const extra = length < 126 ? 0 : 2;
    const out = Buffer.allocUnsafe(6 + extra + length);
    out[0] = 0x80 | opcode;
    if (extra === 0) {
      out[1] = 0x80 | length;
    } else {
      out[1] = 0x80 | 126;
      out.writeUInt16BE(length, 2); // the generator never sends 64 KiB messages
    }
    const at = 2 + extra;
    this.mask.copy(out, at);
    for (let i = 0; i < length; i++) out[at + 4 + i] = payload[i] ^ this.mask[i & 3];
    return out;
  }

  private onHead(head: ResponseHead, buf: Buffer): void {
    if (head.status !== 101) {
      this.fail(`status ${head.status}`);
      return;
    }
    this.isOpen = true;
    this.onOpen(this);
    if (head.bodyStart < buf.length) this.onFrames(buf.subarray(head.bodyStart));
  }

  private onFrames(data: Buffer): void {
    const buf = this.pending ? Buffer.concat([this.pending, data]) : data;
    this.pending = undefined;
    const now = epochMs();
    let items = 0;
    let pos = 0;
    while (pos + 2 <= buf.length) {
      const opcode = buf[pos] & 0x0f;
      let length = buf[pos + 1] & 0x7f;
      let at = pos + 2;
      if (length === 126) {
        if (at + 2 > buf.length) break;
        length = buf.readUInt16BE(at);
        at += 2;
      } else if (length === 127) {
        if (at + 8 > buf.length) break;
        length = Number(buf.readBigUInt64BE(at));
        at += 8;
      }
      if (at + length > buf.length) break;
      if (opcode === OP_TEXT || opcode === 0x2) {
        items += this.onMessage(buf.toString('latin1', at, at + length), now);
      } else if (opcode === OP_PING) {
        this.socket.write(this.frame(0xa, buf.subarray(at, at + length)));
      } else if (opcode === OP_CLOSE) {
        const code = length >= 2 ? buf.readUInt16BE(at) : 0;
        this.fail(`close frame ${code}`);
        return;
      }
      pos = at + length;
    }
    if (pos < buf.length) this.pending = buf.subarray(pos);
    if (items > 0) {
      this.stats.onChunk(1); // a WebSocket message is its own frame: never shared
      this.stats.onRead(items);
    }
  }

  private onMessage(text: string, now: number): number {
    if (text.charCodeAt(0) === 0x65 /* e */) {
      const space = text.indexOf(' ');
      this.echo.received++;
      this.echo.rtt.record(now - Number(text.slice(space + 1)));
      if (this.echoBudget > 0) {
        this.echoBudget--;
        this.sendEcho();
      }
      return 0;
    }
    return this.receiver.onItem(text, 0, text.length, now);
  }

  private fail(reason: string): void {
    if (this.isClosed) return;
    this.isClosed = true;
    this.socket.destroy();
    if (!this.isOpen) {
      this.onOpen(this, reason);
      return;
    }
    if (!this.isClosing) {
      this.closeReason = reason;
      this.stats.onDrop(reason);
      this.receiver.onDrop?.(reason);
    }
  }
}
