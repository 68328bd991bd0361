import { TnetstringError } from '../errors.js';

/**
 * A decoded tnetstring (tnetstrings.info). Byte strings stay Buffers because Pushpin's
 * ZeroMQ items carry raw, binary-safe content; dictionary keys are decoded as UTF-8.
 */
export type TnetValue = null | boolean | number | bigint | Buffer | TnetValue[] | TnetDict;

export interface TnetDict {
  [key: string]: TnetValue;
}

/** What encodeTnetstring accepts: TnetValue plus JS strings, written as UTF-8 byte strings. */
export type TnetInput =
  | null
  | undefined
  | boolean
  | number
  | bigint
  | string
  | Uint8Array
  | TnetInput[]
  | { [key: string]: TnetInput };

const COLON = 0x3a;
/** The spec caps the length prefix at 9 digits; it also keeps lengths exact in a double. */
const MAX_LENGTH_DIGITS = 9;
/** Nesting beyond this is refused rather than risking the stack on hostile input. */
const MAX_DEPTH = 64;

const INTEGER = /^-?\d+$/;
const FLOAT = /^-?\d+(\.\d+)?([eE][-+]?\d+)?$/;

/** Decodes exactly one tnetstring filling `data`; trailing bytes are an error. */
export function decodeTnetstring(data: Buffer): TnetValue {
  const { value, end } = decodeAt(data, 0, data.length, 0);
  if (end !== data.length) {
    throw new TnetstringError(`tnetstring: ${data.length - end} trailing bytes at offset ${end}`);
  }
  return value;
}

function decodeAt(
  data: Buffer,
  start: number,
  limit: number,
  depth: number,
): { value: TnetValue; end: number } {
  if (depth > MAX_DEPTH) throw new TnetstringError(`tnetstring: nested deeper than ${MAX_DEPTH}`);
  let at = start;
  let length = 0;
  while (at < limit && data[at] !== COLON) {
    const digit = data[at]! - 0x30;
    if (digit < 0 || digit > 9 || at - start >= MAX_LENGTH_DIGITS) {
      throw new TnetstringError(`tnetstring: bad length prefix at offset ${start}`);
    }
    length = length * 10 + digit;
    at++;
  }
  if (at === start || at >= limit) {
    throw new TnetstringError(`tnetstring: missing length prefix at offset ${start}`);
  }
  const payloadStart = at + 1;
  const payloadEnd = payloadStart + length;
  if (payloadEnd >= limit) {
    throw new TnetstringError(
      `tnetstring: length ${length} at offset ${start} runs past the end of its container`,
    );
  }
  const type = String.fromCharCode(data[payloadEnd]!);
  const end = payloadEnd + 1;
  switch (type) {
    case ',':
      return { value: data.subarray(payloadStart, payloadEnd), end };
    case '#': {
      const text = data.toString('latin1', payloadStart, payloadEnd);
      if (!INTEGER.test(text)) throw new TnetstringError(`tnetstring: bad integer "${text}"`);
      const n = Number(text);
      return { value: Number.isSafeInteger(n) ? n : BigInt(text), end };
    }
    case '^': {
      const text = data.toString('latin1', payloadStart, payloadEnd);
      if (!FLOAT.test(text)) throw new TnetstringError(`tnetstring: bad float "${text}"`);
      return { value: Number(text), end };
    }
    case '!': {
      const text = data.toString('latin1', payloadStart, payloadEnd);
      if (text !== 'true' && text !== 'false') {
        throw new TnetstringError(`tnetstring: bad boolean "${text}"`);
      }
      return { value: text === 'true', end };
    }
    case '~':
      if (length !== 0) throw new TnetstringError('tnetstring: null with a payload');
      return { value: null, end };
    case ']': {
      const list: TnetValue[] = [];
      let pos = payloadStart;
      while (pos < payloadEnd) {
        const item = decodeAt(data, pos, payloadEnd, depth + 1);
        list.push(item.value);
        pos = item.end;
      }
      return { value: list, end };
    }
    case '}': {
      // A null prototype keeps keys such as "__proto__" plain data.
      const dict = Object.create(null) as TnetDict;
      let pos = payloadStart;
      while (pos < payloadEnd) {
        const key = decodeAt(data, pos, payloadEnd, depth + 1);
        if (!Buffer.isBuffer(key.value)) {
          throw new TnetstringError(`tnetstring: dictionary key at offset ${pos} is not a string`);
        }
        if (key.end >= payloadEnd) {
          throw new TnetstringError(`tnetstring: dictionary key at offset ${pos} has no value`);
        }
        const value = decodeAt(data, key.end, payloadEnd, depth + 1);
        dict[key.value.toString('utf8')] = value.value;
        pos = value.end;
      }
      return { value: dict, end };
    }
    default:
      throw new TnetstringError(
        `tnetstring: unknown type ${JSON.stringify(type)} at offset ${payloadEnd}`,
      );
  }
}

/** Encodes a value; object keys whose value is undefined are left out, as JSON does. */
export function encodeTnetstring(value: TnetInput): Buffer {
  const parts: Buffer[] = [];
  encodeInto(value, parts, 0);
  return Buffer.concat(parts);
}

function encodeInto(value: TnetInput, parts: Buffer[], depth: number): void {
  if (depth > MAX_DEPTH) throw new TnetstringError(`tnetstring: nested deeper than ${MAX_DEPTH}`);
  if (value === null || value === undefined) {
    parts.push(Buffer.from('0:~'));
  } else if (typeof value === 'boolean') {
    parts.push(Buffer.from(value ? '4:true!' : '5:false!'));
  } else if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new TnetstringError(`tnetstring: cannot encode ${value}`);
    const text = String(value);
    // An integral double past 2^53 (or written as 1e+21) is a float: as an integer it would
    // read back as a bigint, or not at all.
    parts.push(Buffer.from(`${text.length}:${text}${Number.isSafeInteger(value) ? '#' : '^'}`));
  } else if (typeof value === 'bigint') {
    const text = value.toString();
    parts.push(Buffer.from(`${text.length}:${text}#`));
  } else if (typeof value === 'string' || value instanceof Uint8Array) {
    const bytes =
      typeof value === 'string'
        ? Buffer.from(value, 'utf8')
        : Buffer.from(value.buffer, value.byteOffset, value.byteLength);
    parts.push(Buffer.from(`${bytes.length}:`), bytes, Buffer.from(','));
  } else {
    const inner: Buffer[] = [];
    if (Array.isArray(value)) {
      for (const item of value) encodeInto(item, inner, depth + 1);
    } else {
      for (const [key, item] of Object.entries(value)) {
        if (item === undefined) continue;
        encodeInto(key, inner, depth + 1);
        encodeInto(item, inner, depth + 1);
      }
    }
    let size = 0;
    for (const part of inner) size += part.length;
    parts.push(Buffer.from(`${size}:`), ...inner, Buffer.from(Array.isArray(value) ? ']' : '}'));
  }
}
