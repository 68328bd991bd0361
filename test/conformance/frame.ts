import crypto from 'node:crypto';

/*
 * RFC 6455 frames for the test side (section 5.2): an encoder that can also write every
 * malformed shape a conformance case needs (reserved bits, reserved opcodes, unmasked client
 * frames, oversized control frames), and an incremental decoder for what the server sends.
 */

export const opcodes = {
  continuation: 0x0,
  text: 0x1,
  binary: 0x2,
  close: 0x8,
  ping: 0x9,
  pong: 0xa,
} as const;

export interface FrameSpec {
  opcode: number;
  payload?: Buffer | string;
  /** Default true. */
  fin?: boolean;
  /** RSV1-3 as a 3-bit number (RSV1 = 4). */
  rsv?: number;
  /** Default true: RFC 6455 5.1 requires every client frame to be masked. */
  isMasked?: boolean;
}

export interface Frame {
  fin: boolean;
  rsv: number;
  opcode: number;
  isMasked: boolean;
  payload: Buffer;
}

export function encodeFrame(spec: FrameSpec): Buffer {
  const payload =
    typeof spec.payload === 'string'
      ? Buffer.from(spec.payload)
      : (spec.payload ?? Buffer.alloc(0));
  const isMasked = spec.isMasked ?? true;
  const length = payload.length;
  const lengthBytes = length < 126 ? 0 : length < 65536 ? 2 : 8;
  const head = Buffer.alloc(2 + lengthBytes + (isMasked ? 4 : 0));
  head[0] = ((spec.fin ?? true) ? 0x80 : 0) | (((spec.rsv ?? 0) & 7) << 4) | (spec.opcode & 0xf);
  head[1] = (isMasked ? 0x80 : 0) | (lengthBytes === 0 ? length : lengthBytes === 2 ? 126 : 127);
  if (lengthBytes === 2) head.writeUInt16BE(length, 2);
  if (lengthBytes === 8) head.writeBigUInt64BE(BigInt(length), 2);
  if (!isMasked) return Buffer.concat([head, payload]);
  const mask = crypto.randomBytes(4);
  mask.copy(head, 2 + lengthBytes);
  const masked = Buffer.allocUnsafe(length);
  for (let i = 0; i < length; i++) masked[i] = payload[i]! ^ mask[i & 3]!;
  return Buffer.concat([head, masked]);
}

/** A close frame's payload: the status code, then the reason bytes (RFC 6455 5.5.1). */
export function closePayload(code: number, reason: Buffer | string = ''): Buffer {
  const head = Buffer.alloc(2);
  head.writeUInt16BE(code, 0);
  return Buffer.concat([head, typeof reason === 'string' ? Buffer.from(reason) : reason]);
}

/** Splits a byte stream into frames; a partial frame waits for the next chunk. */
export class FrameDecoder {
  private buffered: Buffer = Buffer.alloc(0);

  push(chunk: Buffer): Frame[] {
    this.buffered = this.buffered.length ? Buffer.concat([this.buffered, chunk]) : chunk;
    const frames: Frame[] = [];
    for (;;) {
      const frame = this.next();
      if (!frame) return frames;
      frames.push(frame);
    }
  }

  private next(): Frame | undefined {
    const buf = this.buffered;
    if (buf.length < 2) return undefined;
    const isMasked = (buf[1]! & 0x80) !== 0;
    let length = buf[1]! & 0x7f;
    let offset = 2;
    if (length === 126) {
      if (buf.length < 4) return undefined;
      length = buf.readUInt16BE(2);
      offset = 4;
    } else if (length === 127) {
      if (buf.length < 10) return undefined;
      length = Number(buf.readBigUInt64BE(2));
      offset = 10;
    }
    const maskOffset = offset;
    if (isMasked) offset += 4;
    if (buf.length < offset + length) return undefined;
    const payload = Buffer.from(buf.subarray(offset, offset + length));
    if (isMasked) {
      for (let i = 0; i < length; i++) payload[i]! ^= buf[maskOffset + (i & 3)]!;
    }
    this.buffered = buf.subarray(offset + length);
    return {
      fin: (buf[0]! & 0x80) !== 0,
      rsv: (buf[0]! >> 4) & 7,
      opcode: buf[0]! & 0xf,
      isMasked,
      payload,
    };
  }
}
