import { GripInstructError } from '../errors.js';
import { clampTimerSeconds } from '../timer-limit.js';
import type { KeepAlive } from './instruct-types.js';
import { findParam, parseHeaderInteger, parseHeaderPart } from './header-params.js';

const HEADER = 'Grip-Keep-Alive';

/** Keep-alive interval when the instruction names none, in seconds. */
export const DEFAULT_KEEP_ALIVE_TIMEOUT = 55;

/**
 * Reads a `Grip-Keep-Alive` value (protocol 1.6). The caller passes the first occurrence only:
 * this header is not comma-split. An empty or unparseable value means "no keep-alive", as in
 * Pushpin. The returned data may be empty (e.g. `format=base64` of nothing).
 */
export function parseGripKeepAlive(value: string): KeepAlive | undefined {
  if (value.trim() === '') return undefined;
  const part = parseHeaderPart(value);
  if (!part) return undefined;
  if (part.value === '') throw new GripInstructError(HEADER, 'Grip-Keep-Alive cannot be empty');

  const mode = findParam(part.params, 'mode')?.value ?? '';
  if (mode !== '' && mode !== 'idle' && mode !== 'interval') {
    throw new GripInstructError(HEADER, `no such Grip-Keep-Alive mode '${mode}'`);
  }

  let timeout = DEFAULT_KEEP_ALIVE_TIMEOUT;
  const timeoutParam = findParam(part.params, 'timeout');
  if (timeoutParam) {
    const parsed = parseHeaderInteger(timeoutParam.value ?? '');
    if (parsed === undefined) {
      throw new GripInstructError(HEADER, 'failed to parse Grip-Keep-Alive timeout value');
    }
    if (parsed < 0) {
      throw new GripInstructError(HEADER, 'Grip-Keep-Alive timeout has invalid value');
    }
    timeout = clampTimerSeconds(Math.max(parsed, 1));
  }

  const format = findParam(part.params, 'format')?.value ?? '';
  return {
    data: decodeKeepAliveData(part.value, format),
    timeout,
    mode: mode === 'interval' ? 'interval' : 'idle',
  };
}

/** Keep-alive bytes from the header's data token in the given `format` (empty means raw). */
function decodeKeepAliveData(data: string, format: string): Buffer {
  switch (format) {
    case '':
    case 'raw':
      return Buffer.from(data, 'latin1');
    case 'cstring':
      return decodeCString(data);
    case 'base64':
      return Buffer.from(data, 'base64');
    default:
      throw new GripInstructError(HEADER, `no such Grip-Keep-Alive format '${format}'`);
  }
}

/**
 * Decodes the cstring format: `\\`, `\r`, `\n`, `\t`, `\xHH`. Pushpin drops `\t` and any other
 * escaped character; we decode `\t` as TAB because js-grip's encoder emits it for tabs, and
 * drop the rest like Pushpin.
 */
export function decodeCString(text: string): Buffer {
  const out = Buffer.allocUnsafe(text.length);
  let len = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c !== 0x5c) {
      out[len++] = c;
      continue;
    }
    i++;
    if (i >= text.length) throw cstringError('ends with a lone backslash');
    const escaped = text[i];
    if (escaped === '\\') out[len++] = 0x5c;
    else if (escaped === 'r') out[len++] = 0x0d;
    else if (escaped === 'n') out[len++] = 0x0a;
    else if (escaped === 't') out[len++] = 0x09;
    else if (escaped === 'x') {
      const hex = text.slice(i + 1, i + 3);
      if (!/^[0-9a-fA-F]{2}$/.test(hex)) throw cstringError(`bad escape '\\x${hex}'`);
      out[len++] = parseInt(hex, 16);
      i += 2;
    }
  }
  // Pushpin refuses data that unescapes to nothing (e.g. only unknown escapes).
  if (len === 0) throw cstringError('decodes to nothing');
  return out.subarray(0, len);
}

/**
 * Encodes bytes in the cstring format so that Pushpin and thumbtack read them back exactly:
 * TAB becomes `\x09` (Pushpin drops `\t`), and `;`, control bytes, non-ASCII bytes and
 * leading/trailing spaces (which header parsing would split or trim) become `\xHH`.
 */
export function encodeCString(data: Buffer): string {
  let out = '';
  for (let i = 0; i < data.length; i++) {
    const b = data[i];
    const isEdge = i === 0 || i === data.length - 1;
    if (b === 0x5c) out += '\\\\';
    else if (b === 0x0d) out += '\\r';
    else if (b === 0x0a) out += '\\n';
    else if (b < 0x20 || b >= 0x7f || b === 0x3b || (b === 0x20 && isEdge)) {
      out += '\\x' + b.toString(16).padStart(2, '0');
    } else out += String.fromCharCode(b);
  }
  return out;
}

function cstringError(problem: string): GripInstructError {
  return new GripInstructError(
    HEADER,
    `failed to parse Grip-Keep-Alive cstring format: ${problem}`,
  );
}
