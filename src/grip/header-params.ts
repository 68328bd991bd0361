/**
 * The value syntax shared by every `Grip-*` header (protocol 1.2), parsed the way Pushpin does.
 *
 * Header values are byte strings, one character per byte (latin1), which is how undici and
 * node:http hand them over. Text fields (channel names, meta, links) are UTF-8 on the wire;
 * `decodeHeaderText` turns such a byte string into the text it encodes.
 */

export interface HeaderParam {
  /** Lower-cased: parameter names compare case-insensitively. */
  name: string;
  /** undefined when the parameter has no `=`. */
  value: string | undefined;
}

export interface HeaderPart {
  /** The first token, taken literally up to the first `;` and trimmed. */
  value: string;
  params: HeaderParam[];
}

/**
 * Splits every occurrence of a header on commas outside double quotes and trims the parts.
 * Empty parts between commas are kept; callers decide what they mean.
 */
export function splitHeaderValues(values: readonly string[]): string[] {
  const parts: string[] = [];
  for (const value of values) {
    let start = 0;
    while (start < value.length) {
      const end = findUnquotedComma(value, start);
      if (end === -1) {
        // Unterminated quote: the rest stays one part, which then fails to parse (Pushpin).
        parts.push(value.slice(start).trim());
        break;
      }
      parts.push(value.slice(start, end).trim());
      start = end + 1;
    }
  }
  return parts;
}

/** `first-token *( ";" name [ "=" value ] )`; undefined when a quoted value is unterminated. */
export function parseHeaderPart(text: string): HeaderPart | undefined {
  const semi = text.indexOf(';');
  if (semi === -1) return { value: text.trim(), params: [] };
  const params = parseHeaderParams(text, semi + 1);
  return params && { value: text.slice(0, semi).trim(), params };
}

/**
 * `name [ "=" value ] *( ";" name [ "=" value ] )` from `start`, for headers whose first token
 * is itself a parameter (Grip-Set-Meta); undefined when a quoted value is unterminated.
 */
export function parseHeaderParams(text: string, start = 0): HeaderParam[] | undefined {
  const params: HeaderParam[] = [];
  let pos = start;
  while (pos < text.length) {
    const at = findEqualsOrSemicolon(text, pos);
    if (at === -1) {
      params.push({ name: text.slice(pos).trim().toLowerCase(), value: undefined });
      break;
    }
    const name = text.slice(pos, at).trim().toLowerCase();
    if (text[at] === ';') {
      params.push({ name, value: undefined });
      pos = at + 1;
      continue;
    }
    let valueStart = at + 1;
    while (text[valueStart] === ' ' || text[valueStart] === '\t') valueStart++;
    if (text[valueStart] === '"') {
      const quoted = readQuoted(text, valueStart + 1);
      if (!quoted) return undefined;
      params.push({ name, value: quoted.value });
      // Anything between the closing quote and the next `;` is ignored, as in Pushpin.
      const next = text.indexOf(';', quoted.end);
      pos = next === -1 ? text.length : next + 1;
    } else {
      const next = text.indexOf(';', valueStart);
      const end = next === -1 ? text.length : next;
      params.push({ name, value: text.slice(valueStart, end).trim() });
      pos = next === -1 ? text.length : next + 1;
    }
  }
  return params;
}

/** All occurrences, comma-split, each parsed; parts with an unterminated quote are skipped. */
export function parseHeaderParts(values: readonly string[]): HeaderPart[] {
  const parts: HeaderPart[] = [];
  for (const text of splitHeaderValues(values)) {
    const part = parseHeaderPart(text);
    if (part) parts.push(part);
  }
  return parts;
}

/** The first parameter called `name` (lower case), or undefined. */
export function findParam(params: readonly HeaderParam[], name: string): HeaderParam | undefined {
  return params.find((p) => p.name === name);
}

/** A decimal integer as Pushpin reads numbers in headers; undefined when it is not one. */
export function parseHeaderInteger(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const trimmed = text.trim();
  if (!/^[+-]?\d{1,10}$/.test(trimmed)) return undefined;
  const n = Number(trimmed);
  // Pushpin parses into a 32-bit int; larger values fail to parse.
  return n >= -2147483648 && n <= 2147483647 ? n : undefined;
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * The text a header byte string encodes as UTF-8 (ASCII comes back unchanged). A string that
 * is not valid UTF-8 as bytes is returned as it is: it was already decoded by the caller, or
 * is legacy latin1 text, and either way re-decoding would only mangle it.
 */
export function decodeHeaderText(bytes: string): string {
  if (isAscii(bytes)) return bytes;
  for (let i = 0; i < bytes.length; i++) {
    if (bytes.charCodeAt(i) > 0xff) return bytes;
  }
  try {
    return strictUtf8.decode(Buffer.from(bytes, 'latin1'));
  } catch {
    return bytes;
  }
}

/** The header byte string (one char per byte) that carries `text` as UTF-8. */
export function encodeHeaderText(text: string): string {
  return isAscii(text) ? text : Buffer.from(text, 'utf8').toString('latin1');
}

function isAscii(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    if (text.charCodeAt(i) > 0x7f) return false;
  }
  return true;
}

/** Index of the next comma outside quotes, `text.length` if none, -1 on an unterminated quote. */
function findUnquotedComma(text: string, start: number): number {
  let inQuote = false;
  for (let i = start; i < text.length; i++) {
    const c = text[i];
    if (inQuote) {
      if (c === '\\') {
        i++;
        if (i >= text.length) return -1;
      } else if (c === '"') {
        inQuote = false;
      }
    } else if (c === '"') {
      inQuote = true;
    } else if (c === ',') {
      return i;
    }
  }
  return inQuote ? -1 : text.length;
}

function findEqualsOrSemicolon(text: string, start: number): number {
  for (let i = start; i < text.length; i++) {
    const c = text[i];
    if (c === '=' || c === ';') return i;
  }
  return -1;
}

/** Reads a quoted string whose opening quote is just before `start`. */
function readQuoted(text: string, start: number): { value: string; end: number } | undefined {
  let value = '';
  for (let i = start; i < text.length; i++) {
    const c = text[i];
    if (c === '\\') {
      i++;
      if (i >= text.length) return undefined;
      value += text[i];
    } else if (c === '"') {
      return { value, end: i + 1 };
    } else {
      value += c;
    }
  }
  return undefined;
}
