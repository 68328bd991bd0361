import { isUtf8 } from 'node:buffer';
import crypto from 'node:crypto';
import net from 'node:net';
import { closePayload, encodeFrame, FrameDecoder, opcodes, type Frame } from './frame.js';

/** A message, pong or ping the server sent (fragments reassembled). */
export interface ServerEvent {
  kind: 'text' | 'binary' | 'ping' | 'pong';
  payload: Buffer;
}

/** Everything the server did on one connection, for a case to judge. */
export interface Observation {
  events: ServerEvent[];
  /** The server's close frame; `code` is undefined for an empty payload. */
  close?: { code?: number; reason: Buffer; length: number };
  /** The server closed (or reset) the TCP connection; the client's own destroy is not this. */
  isTcpClosed: boolean;
  /** What the server sent that breaks RFC 6455 itself ("masked frame", ...). */
  serverErrors: string[];
}

/**
 * A WebSocket client on a raw TCP socket: it writes whatever frames a case gives it and
 * records what the server answers. Like a conforming client, it echoes the server's close
 * frame when it has not sent one itself (RFC 6455 5.5.1).
 */
export class RawWsClient {
  readonly observation: Observation = { events: [], isTcpClosed: false, serverErrors: [] };
  private readonly decoder = new FrameDecoder();
  private fragments: Frame[] = [];
  private hasSentClose = false;
  private isDestroyed = false;
  private readonly waiters = new Set<() => void>();

  private constructor(private readonly socket: net.Socket) {}

  /** Opens the connection and completes the opening handshake (bounded). */
  static connect(port: number, path: string, timeoutMs: number): Promise<RawWsClient> {
    return new Promise((resolve, reject) => {
      const socket = net.connect({ port, host: '127.0.0.1', noDelay: true });
      const key = crypto.randomBytes(16).toString('base64');
      let head = Buffer.alloc(0);
      const timer = setTimeout(() => fail(`no 101 answer within ${timeoutMs} ms`), timeoutMs);
      const fail = (why: string): void => {
        clearTimeout(timer);
        socket.destroy();
        reject(new Error(`handshake: ${why}`));
      };
      const onHead = (chunk: Buffer): void => {
        head = Buffer.concat([head, chunk]);
        const end = head.indexOf('\r\n\r\n');
        if (end < 0) return;
        socket.off('data', onHead);
        clearTimeout(timer);
        const lines = head.subarray(0, end).toString('latin1').split('\r\n');
        if (!/^HTTP\/1\.1 101 /.test(lines[0]!)) return fail(`answered ${lines[0]}`);
        const accept = lines
          .map((line) => /^sec-websocket-accept:\s*(.*)$/i.exec(line)?.[1]?.trim())
          .find(Boolean);
        const expected = crypto
          .createHash('sha1')
          .update(key + '258EAFA5-E914-47DA-95CA-C5AB0DC85B11')
          .digest('base64');
        if (accept !== expected) return fail(`Sec-WebSocket-Accept ${accept}, not ${expected}`);
        const client = new RawWsClient(socket);
        socket.on('data', (data: Buffer) => client.onData(data));
        socket.on('close', () => client.onTcpClose());
        client.onData(head.subarray(end + 4));
        resolve(client);
      };
      socket.on('data', onHead);
      socket.on('error', (err) => fail(err.message));
      socket.on('connect', () =>
        socket.write(
          `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\n` +
            `Connection: Upgrade\r\nSec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
        ),
      );
    });
  }

  /** Writes bytes as they are; a close frame among them is noted from `isClose`. */
  write(bytes: Buffer, isClose = false): void {
    if (isClose) this.hasSentClose = true;
    if (!this.socket.destroyed) this.socket.write(bytes);
  }

  /** Resolves true once `condition` holds, false at the deadline. */
  waitUntil(condition: (o: Observation) => boolean, timeoutMs: number): Promise<boolean> {
    return new Promise((resolve) => {
      const check = (): void => {
        if (!condition(this.observation)) return;
        finish(true);
      };
      const finish = (result: boolean): void => {
        clearTimeout(timer);
        this.waiters.delete(check);
        resolve(result);
      };
      const timer = setTimeout(() => finish(false), timeoutMs);
      this.waiters.add(check);
      check();
    });
  }

  destroy(): void {
    this.isDestroyed = true;
    this.socket.destroy();
  }

  private onData(data: Buffer): void {
    if (data.length === 0) return;
    for (const frame of this.decoder.push(data)) this.onFrame(frame);
    this.wake();
  }

  private onTcpClose(): void {
    if (this.isDestroyed) return;
    this.observation.isTcpClosed = true;
    this.wake();
  }

  private wake(): void {
    for (const check of [...this.waiters]) check();
  }

  private onFrame(frame: Frame): void {
    const { observation } = this;
    if (frame.isMasked) observation.serverErrors.push('masked frame (RFC 6455 5.1)');
    if (frame.rsv !== 0) observation.serverErrors.push(`frame with RSV ${frame.rsv}`);
    if (observation.close) {
      observation.serverErrors.push(`frame (opcode ${frame.opcode}) after its close frame`);
      return;
    }
    switch (frame.opcode) {
      case opcodes.ping:
      case opcodes.pong:
        observation.events.push({
          kind: frame.opcode === opcodes.ping ? 'ping' : 'pong',
          payload: frame.payload,
        });
        return;
      case opcodes.close:
        this.onClose(frame.payload);
        return;
      case opcodes.text:
      case opcodes.binary:
      case opcodes.continuation:
        this.onDataFrame(frame);
        return;
      default:
        observation.serverErrors.push(`frame with reserved opcode ${frame.opcode}`);
    }
  }

  private onDataFrame(frame: Frame): void {
    const isContinuation = frame.opcode === opcodes.continuation;
    if (isContinuation !== this.fragments.length > 0) {
      this.observation.serverErrors.push('data frame out of fragment order');
      return;
    }
    this.fragments.push(frame);
    if (!frame.fin) return;
    const first = this.fragments[0]!;
    const payload = Buffer.concat(this.fragments.map((f) => f.payload));
    this.fragments = [];
    const kind = first.opcode === opcodes.text ? 'text' : 'binary';
    if (kind === 'text' && !isUtf8(payload)) {
      this.observation.serverErrors.push('text message that is not UTF-8');
    }
    this.observation.events.push({ kind, payload });
  }

  private onClose(payload: Buffer): void {
    const code = payload.length >= 2 ? payload.readUInt16BE(0) : undefined;
    const reason = payload.subarray(2);
    this.observation.close = { code, reason, length: payload.length };
    if (payload.length === 1) this.observation.serverErrors.push('1-byte close payload');
    if (code !== undefined && !isWireCloseCode(code)) {
      this.observation.serverErrors.push(`close code ${code}, which a close frame may not carry`);
    }
    if (!isUtf8(reason)) this.observation.serverErrors.push('close reason that is not UTF-8');
    if (!this.hasSentClose) {
      this.write(encodeFrame({ opcode: opcodes.close, payload: code ? closePayload(code) : '' }));
      this.hasSentClose = true;
    }
  }
}

/** Codes a close frame may carry (RFC 6455 7.4.1-7.4.2, IANA's 1012-1014). */
export function isWireCloseCode(code: number): boolean {
  return (
    (code >= 1000 && code <= 1003) ||
    (code >= 1007 && code <= 1014) ||
    (code >= 3000 && code <= 4999)
  );
}
