import net from 'node:net';

/*
 * Raw TCP exchanges for hostile input: bytes go out exactly as given, and whatever comes back
 * within a bounded wait is returned with whether the server closed the connection.
 */

export interface Exchange {
  /** Everything the server sent. */
  data: Buffer;
  /** The server closed (or reset) the connection within the wait. */
  isClosed: boolean;
  /** Milliseconds from connecting to the close, or to the end of the wait. */
  ms: number;
}

/**
 * Whether `data` holds a whole HTTP response (by Content-Length, a last chunk, or a status
 * without a body), so a caller need not wait for a close that may never come.
 */
export function isWholeResponse(data: Buffer): boolean {
  const end = data.indexOf('\r\n\r\n');
  if (end === -1) return false;
  const head = data.toString('latin1', 0, end);
  const length = /\r\ncontent-length: *(\d+)/i.exec(head);
  if (length) return data.length - end - 4 >= Number(length[1]);
  if (/\r\ntransfer-encoding: *chunked/i.test(head)) return data.subarray(-5).equals(LAST_CHUNK);
  return /^HTTP\/1\.1 (1\d\d|204|304) /.test(head);
}

const LAST_CHUNK = Buffer.from('0\r\n\r\n');

/**
 * Writes `chunks` on a fresh connection (`gapMs` apart), then reads until the server closes,
 * `isDone(data)` holds, or `waitMs` passes.
 */
export function exchange(
  port: number,
  chunks: Buffer | readonly Buffer[],
  waitMs: number,
  options: { gapMs?: number; isDone?: (data: Buffer) => boolean } = {},
): Promise<Exchange> {
  const gapMs = options.gapMs ?? 0;
  return new Promise((resolve) => {
    const started = performance.now();
    const socket = net.connect(port, '127.0.0.1');
    const received: Buffer[] = [];
    const timers: NodeJS.Timeout[] = [];
    let isClosed = false;
    const done = (): void => {
      for (const timer of timers) clearTimeout(timer);
      socket.destroy();
      resolve({ data: Buffer.concat(received), isClosed, ms: performance.now() - started });
    };
    timers.push(setTimeout(done, waitMs));
    socket.on('data', (chunk) => {
      received.push(chunk);
      if (options.isDone?.(Buffer.concat(received))) done();
    });
    socket.on('error', () => undefined);
    socket.on('close', () => {
      isClosed = true;
      done();
    });
    const list = Buffer.isBuffer(chunks) ? [chunks] : chunks;
    list.forEach((chunk, i) => {
      if (gapMs === 0) socket.write(chunk);
      else timers.push(setTimeout(() => socket.destroyed || socket.write(chunk), i * gapMs));
    });
  });
}

export interface WsExchange extends Exchange {
  /** The handshake answer's status line ('' when none came). */
  statusLine: string;
  /** What came after the handshake answer: the server's frames. */
  frames: Buffer;
}

/**
 * Opens a WebSocket on `path` with a raw handshake and writes `frames` once the 101 has
 * arrived (bytes sent earlier would be read as HTTP, not as frames), then reads until the
 * server closes or `waitMs` passes.
 */
export function wsExchange(
  port: number,
  path: string,
  frames: readonly Buffer[],
  waitMs: number,
): Promise<WsExchange> {
  return new Promise((resolve) => {
    const started = performance.now();
    const socket = net.connect(port, '127.0.0.1');
    let data = Buffer.alloc(0);
    let isClosed = false;
    let isUpgraded = false;
    const done = (): void => {
      clearTimeout(timer);
      socket.destroy();
      const end = data.indexOf('\r\n\r\n');
      resolve({
        data,
        isClosed,
        ms: performance.now() - started,
        statusLine: end === -1 ? '' : data.toString('latin1', 0, data.indexOf('\r\n')),
        frames: end === -1 ? Buffer.alloc(0) : data.subarray(end + 4),
      });
    };
    const timer = setTimeout(done, waitMs);
    socket.on('data', (chunk) => {
      data = Buffer.concat([data, chunk]);
      if (!isUpgraded && data.includes('\r\n\r\n')) {
        isUpgraded = true;
        for (const frame of frames) socket.write(frame);
      }
    });
    socket.on('error', () => undefined);
    socket.on('close', () => {
      isClosed = true;
      done();
    });
    socket.write(
      `GET ${path} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
        'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
    );
  });
}

export interface FrameOptions {
  isFin?: boolean;
  /** Clients must mask; false writes an unmasked frame. */
  isMasked?: boolean;
  /** RSV1-3 as a number 0-7. */
  rsv?: number;
  /** A declared payload length other than the payload's own (to lie about it). */
  length?: bigint;
}

/** One WebSocket frame as a client writes it (RFC 6455 5.2), masked unless told otherwise. */
export function wsFrame(opcode: number, payload: Buffer, options: FrameOptions = {}): Buffer {
  const isMasked = options.isMasked ?? true;
  const head = [((options.isFin ?? true) ? 0x80 : 0) | ((options.rsv ?? 0) << 4) | opcode];
  const length = options.length ?? BigInt(payload.length);
  const maskBit = isMasked ? 0x80 : 0;
  if (length < 126n) {
    head.push(maskBit | Number(length));
  } else if (length < 65536n) {
    head.push(maskBit | 126, Number(length >> 8n), Number(length & 255n));
  } else {
    head.push(maskBit | 127);
    for (let i = 7; i >= 0; i--) head.push(Number((length >> BigInt(8 * i)) & 255n));
  }
  if (!isMasked) return Buffer.concat([Buffer.from(head), payload]);
  const key = Buffer.from([0x37, 0xfa, 0x21, 0x3d]);
  const masked = Buffer.from(payload.map((byte, i) => byte ^ key[i % 4]!));
  return Buffer.concat([Buffer.from(head), key, masked]);
}
