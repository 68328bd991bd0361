import { isUtf8 } from 'node:buffer';
import { STATUS_CODES } from 'node:http';
import { PublishFormatError } from '../errors.js';
import {
  isPublishAction,
  isWsMessageType,
  type HttpResponseFormat,
  type HttpStreamFormat,
  type PublishAction,
  type PublishFormats,
  type PublishItem,
  type WsMessageFormat,
  type WsMessageType,
} from './publish-types.js';
import { bodyPatchProblem, type BodyPatchOperation } from './body-patch.js';
import { channelNameProblem } from './channel-name.js';
import { isSendableCloseCode } from './close-code.js';
import { headerFieldProblem, reasonPhraseProblem } from './header-field.js';
import { decodeTnetstring } from './tnetstring.js';

/*
 * Publish item validation, matching Pushpin's messages word for word so publishers that
 * read error bodies see what they would from Pushpin. Every PublishFormatError message is
 * the control API's 400 body line without its newline.
 *
 * JSON and tnetstring items share the rules, with Pushpin's differences: in tnetstring
 * input strings are raw bytes, and the Base64 `content-bin` / `body-bin` fields exist
 * only in JSON (a tnetstring `ws-message` may carry raw bytes in `content-bin`).
 *
 * Stricter than Pushpin where its leniency reaches clients as broken frames or mangled
 * bytes: Base64 must be valid, text must be valid UTF-8, a ping or pong payload fits a
 * control frame and a close code is one a client accepts.
 */

type Mode = 'json' | 'tnet';
type Keyed = Record<string, unknown>;

const ITEM = 'publish item object';
const INVALID = 'Invalid format: ';
const EMPTY = Buffer.alloc(0);
const LEGACY_FORMATS = ['http-response', 'http-stream', 'ws-message'] as const;
/** Standard alphabet, padding optional; no whitespace, no URL-safe letters. */
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}(?:==)?|[A-Za-z0-9+/]{3}=?)?$/;
/** The largest payload of a WebSocket control frame (ping, pong, close; RFC 6455 5.5). */
const CONTROL_PAYLOAD_MAX = 125;
const NOT_UTF8 = 'that is not valid UTF-8';
/** A UTF-16 surrogate not in a pair (a JSON `\\ud800` escape): it has no UTF-8 encoding. */
const LONE_SURROGATE = /\p{Cs}/u;
/**
 * Levels of arrays and objects a JSON document may nest: Qt's JSON reader, which Pushpin
 * uses, refuses deeper ones (DeepNesting). Past it, checks that walk the document (the
 * body-patch validator, the UTF-8 error's path) would overflow the stack.
 */
const JSON_NESTING_MAX = 1024;

/** Parses a `POST /publish/` body: `{"items": [...]}`, all items valid or none. */
export function parsePublishBody(body: Buffer): PublishItem[] {
  let doc: unknown;
  try {
    doc = JSON.parse(body.toString('utf8'));
  } catch {
    throw new PublishFormatError('Body is not valid JSON.');
  }
  if (isNestedDeeper(doc, JSON_NESTING_MAX))
    throw new PublishFormatError('Body is not valid JSON.');
  // Decoding put U+FFFD where the bytes were not UTF-8; refuse rather than deliver that.
  if (!isUtf8(body)) throw new PublishFormatError(notUtf8Message(body, doc));
  // Pushpin's JSON reader accepts only an object or array at the top level.
  if (typeof doc !== 'object' || doc === null) {
    throw new PublishFormatError('Body is not valid JSON.');
  }
  if (Array.isArray(doc)) throw new PublishFormatError('Invalid format.');
  if (!has(doc as Keyed, 'items')) {
    throw new PublishFormatError(`${INVALID}object does not contain 'items'`);
  }
  const items = (doc as Keyed)['items'];
  if (!Array.isArray(items)) {
    throw new PublishFormatError(`${INVALID}object contains 'items' with wrong type`);
  }
  const out: PublishItem[] = [];
  for (let i = 0; i < items.length; i++) {
    try {
      out.push(parseItem(items[i], undefined, 'json'));
    } catch (err) {
      // Naming the index only helps when there is more than one; one item keeps Pushpin's text.
      if (items.length > 1 && err instanceof PublishFormatError) {
        throw new PublishFormatError(`${INVALID}item ${i}: ${err.message.slice(INVALID.length)}`);
      }
      throw err;
    }
  }
  return out;
}

/** Validates one tnetstring-encoded item (no prefix byte), as pushpin-publish sends it. */
function parsePublishTnetstring(data: Buffer, channelOverride?: string): PublishItem {
  let value: unknown;
  try {
    value = decodeTnetstring(data);
  } catch {
    throw new PublishFormatError('received message with invalid format (tnetstring parse failed)');
  }
  return parseItem(value, channelOverride, 'tnet');
}

/**
 * Parses one ZeroMQ publish payload: `J` + JSON object, `T` + tnetstring, or (anything
 * else) a bare tnetstring, as Pushpin's PULL and SUB inputs do. A non-empty
 * `channelOverride` (the ZeroMQ SUB topic) replaces the item's `channel`, which then need
 * not be present.
 */
export function parsePublishMessage(frame: Buffer, channelOverride?: string): PublishItem {
  if (frame.length > 0 && frame[0] === 0x4a /* J */) {
    let doc: unknown;
    try {
      doc = JSON.parse(frame.toString('utf8', 1));
    } catch {
      throw new PublishFormatError('received message with invalid format (json parse failed)');
    }
    if (isNestedDeeper(doc, JSON_NESTING_MAX)) {
      throw new PublishFormatError('received message with invalid format (json parse failed)');
    }
    if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) {
      throw new PublishFormatError(
        'received message with invalid format (not a valid json object)',
      );
    }
    const json = frame.subarray(1);
    if (!isUtf8(json)) throw new PublishFormatError(notUtf8Message(json, doc));
    return parseItem(doc, channelOverride, 'json');
  }
  const offset = frame.length > 0 && frame[0] === 0x54 /* T */ ? 1 : 0;
  return parsePublishTnetstring(frame.subarray(offset), channelOverride);
}

/** Whether `value` has arrays or objects nested more than `levels` deep (recursion stops there). */
function isNestedDeeper(value: unknown, levels: number): boolean {
  if (typeof value !== 'object' || value === null) return false;
  if (levels === 0) return true;
  for (const child of Object.values(value)) if (isNestedDeeper(child, levels - 1)) return true;
  return false;
}

/**
 * Names where a body that is not UTF-8 goes wrong: the first string holding U+FFFD, which
 * decoding put in place of the bad bytes, unless the body also spells U+FFFD itself.
 */
function notUtf8Message(body: Buffer, doc: unknown): string {
  const spellsReplacement =
    body.includes(Buffer.from('\uFFFD', 'utf8')) || /\\u[fF]{3}[dD]/.test(body.toString('latin1'));
  const path = spellsReplacement ? undefined : replacementPath(doc, []);
  if (path === undefined) return 'Body is not valid UTF-8.';
  if (path[0] === 'items' && path.length > 2) {
    const items = (doc as Keyed)['items'] as unknown[];
    const [, , ...field] = path;
    // One item: worded as that item's other errors are, without an index (Pushpin's text).
    if (items.length === 1) {
      if (field[0] === 'formats' && field.length === 3) {
        return `${INVALID}'${field[1]}' contains '${field[2]}' that is not valid UTF-8`;
      }
      return `${INVALID}'${field.join('.')}' is not valid UTF-8`;
    }
    return `${INVALID}item ${path[1]}: '${field.join('.')}' is not valid UTF-8`;
  }
  return `${INVALID}'${path.join('.')}' is not valid UTF-8`;
}

function replacementPath(value: unknown, path: string[]): string[] | undefined {
  if (typeof value === 'string') return value.includes('\uFFFD') ? path : undefined;
  if (typeof value !== 'object' || value === null) return undefined;
  for (const [key, child] of Object.entries(value)) {
    if (key.includes('\uFFFD')) return [...path, key];
    const found = replacementPath(child, [...path, key]);
    if (found) return found;
  }
  return undefined;
}

function parseItem(value: unknown, channelOverride: string | undefined, mode: Mode): PublishItem {
  if (!isKeyed(value)) fail(`${ITEM} is not an object`);
  const channel = channelOverride ? channelOverride : requiredString(value, ITEM, 'channel');
  // Pushpin takes any channel; these two are the internal bus's (see channel-name.ts).
  const problem = channelNameProblem(channel);
  if (problem) fail(`${ITEM} contains 'channel' that ${problem}`);
  const id = optionalString(value, ITEM, 'id');
  const prevId = optionalString(value, ITEM, 'prev-id');

  let formatsValue: Keyed;
  if (has(value, 'formats')) {
    const given = value['formats'];
    if (!isKeyed(given)) fail(`${ITEM} contains 'formats' with wrong type`);
    formatsValue = given;
  } else {
    // Legacy (original GRIP spec) layout: the formats sit directly on the item.
    formatsValue = {};
    for (const name of LEGACY_FORMATS) {
      if (has(value, name)) formatsValue[name] = value[name];
    }
  }
  if (Object.keys(formatsValue).length === 0) fail('no formats specified');

  // Unknown format names are ignored, as in Pushpin.
  const formats: PublishFormats = {};
  if (has(formatsValue, 'http-response')) {
    formats.httpResponse = parseHttpResponse(formatsValue['http-response'], mode);
  }
  if (has(formatsValue, 'http-stream')) {
    formats.httpStream = parseHttpStream(formatsValue['http-stream'], mode);
  }
  if (has(formatsValue, 'ws-message')) {
    formats.wsMessage = parseWsMessage(formatsValue['ws-message'], mode);
  }

  const item: PublishItem = { channel, noSeq: false, formats };
  if (id !== undefined) item.id = id;
  if (prevId !== undefined) item.prevId = prevId;

  if (has(value, 'meta')) {
    const meta = value['meta'];
    if (!isKeyed(meta)) fail(`${ITEM} contains 'meta' with wrong type`);
    const out: Record<string, string> = {};
    for (const [key, v] of Object.entries(meta)) {
      const text = asString(v);
      if (text === undefined) fail(`'meta' contains '${key}' with wrong type`);
      out[key] = text;
    }
    item.meta = out;
  }
  if (has(value, 'size')) {
    const size = asInteger(value['size']);
    if (size === undefined) fail(`${ITEM} contains 'size' with wrong type`);
    if (size < 0) fail(`${ITEM} contains 'size' with invalid value`);
    item.size = size;
  }
  if (has(value, 'no-seq')) {
    const noSeq = value['no-seq'];
    if (typeof noSeq !== 'boolean') fail(`${ITEM} contains 'no-seq' with wrong type`);
    item.noSeq = noSeq;
  }
  return item;
}

function parseAction(format: Keyed, pn: string): PublishAction {
  const action = optionalString(format, pn, 'action');
  if (action === undefined) return 'send';
  if (isPublishAction(action)) return action;
  // Pushpin answers a bare "Invalid format: " here; naming the action is kinder.
  return fail(`unknown action ${JSON.stringify(action)} in ${pn}`);
}

function parseHttpResponse(value: unknown, mode: Mode): HttpResponseFormat {
  const pn = "'http-response'";
  if (!isKeyed(value)) fail(`${pn} is not an object`);
  const action = parseAction(value, pn);
  if (action !== 'send') return { action, code: 200, reason: 'OK', headers: [], body: EMPTY };

  let code = 200;
  if (has(value, 'code')) {
    const given = asCode(value['code']);
    if (given === undefined) fail(`${pn} contains 'code' with wrong type`);
    if (given < 0 || given > 999) fail(`${pn} contains 'code' with invalid value`);
    code = given;
  }
  const reason = optionalString(value, pn, 'reason') || (STATUS_CODES[code] ?? 'Undefined Reason');
  const reasonProblem = reasonPhraseProblem(reason);
  if (reasonProblem) fail(`${pn} ${reasonProblem}`);
  const headers = has(value, 'headers') ? parseHeaders(value['headers'], pn) : [];
  const format: HttpResponseFormat = { action, code, reason, headers, body: EMPTY };
  const contentFilters = parseContentFilters(value, pn);
  if (contentFilters) format.contentFilters = contentFilters;

  // Precedence as in Pushpin: body-bin (JSON only), then body, then body-patch.
  if (mode === 'json' && has(value, 'body-bin')) {
    format.body = base64Bytes(value, pn, 'body-bin');
  } else if (has(value, 'body')) {
    format.body = contentBytes(value['body'], pn, 'body');
  } else if (has(value, 'body-patch')) {
    const given = value['body-patch'];
    if (!Array.isArray(given)) fail(`${pn} contains 'body-patch' with wrong type`);
    // A tnetstring patch (pushpin-publish --patch over ZeroMQ) holds byte strings.
    const operations =
      mode === 'json' ? given : (bytesAsText(given, pn, 'body-patch') as unknown[]);
    const problem = bodyPatchProblem(operations);
    if (problem) fail(`${pn} contains 'body-patch' with an invalid operation: ${problem}`);
    format.bodyPatch = operations as BodyPatchOperation[];
  } else {
    fail(
      mode === 'json'
        ? `${pn} does not contain 'body', 'body-bin', or 'body-patch'`
        : `${pn} does not contain 'body' or 'body-patch'`,
    );
  }
  return format;
}

function parseHeaders(value: unknown, pn: string): [string, string][] {
  const headers: [string, string][] = [];
  if (Array.isArray(value)) {
    for (const pair of value) {
      if (!Array.isArray(pair)) fail('headers contains element with wrong type');
      if (pair.length !== 2) fail('headers contains list with wrong number of elements');
      const name = asString(pair[0]);
      if (name === undefined) fail('header contains name element with wrong type');
      const text = asString(pair[1]);
      if (text === undefined) fail('header contains value element with wrong type');
      headers.push([name, text]);
    }
  } else if (isKeyed(value)) {
    for (const [name, v] of Object.entries(value)) {
      const text = asString(v);
      if (text === undefined) fail(`headers contains '${name}' with wrong type`);
      headers.push([name, text]);
    }
  } else {
    fail(`${pn} contains 'headers' with wrong type`);
  }
  for (const [name, text] of headers) {
    const problem = headerFieldProblem(name, text);
    if (problem) fail(`${pn} ${problem}`);
  }
  // GRIP instructions never travel inside a published response.
  return headers.filter(([name]) => !/^grip-/i.test(name));
}

function parseContentFilters(format: Keyed, pn: string): string[] | undefined {
  if (!has(format, 'content-filters')) return undefined;
  const list = format['content-filters'];
  if (!Array.isArray(list)) fail(`${pn} contains 'content-filters' with wrong type`);
  return list.map((entry) => {
    const name = asString(entry);
    if (name === undefined) fail('content-filters contains element with wrong type');
    return name;
  });
}

function parseHttpStream(value: unknown, mode: Mode): HttpStreamFormat {
  const pn = "'http-stream'";
  if (!isKeyed(value)) fail(`${pn} is not an object`);
  const action = parseAction(value, pn);
  if (action !== 'send') return { action, content: EMPTY };

  const format: HttpStreamFormat = { action, content: EMPTY };
  const contentFilters = parseContentFilters(value, pn);
  if (contentFilters) format.contentFilters = contentFilters;
  if (mode === 'json' && has(value, 'content-bin')) {
    format.content = base64Bytes(value, pn, 'content-bin');
  } else if (has(value, 'content')) {
    format.content = contentBytes(value['content'], pn, 'content');
  } else {
    fail(
      mode === 'json'
        ? `${pn} does not contain 'content' or 'content-bin'`
        : `${pn} does not contain 'content'`,
    );
  }
  return format;
}

function parseWsMessage(value: unknown, mode: Mode): WsMessageFormat {
  const pn = "'ws-message'";
  if (!isKeyed(value)) fail(`${pn} is not an object`);
  const action = parseAction(value, pn);

  if (action === 'close') {
    const format: WsMessageFormat = { action, type: 'text', content: EMPTY };
    if (has(value, 'code')) {
      const code = asCode(value['code']);
      if (code === undefined) fail(`${pn} contains 'code' with wrong type`);
      if (code < 0) fail(`${pn} contains 'code' with invalid value`);
      // Pushpin sends any code modulo 2^16; a client fails the connection on most of them.
      if (!isSendableCloseCode(code)) {
        fail(
          `${pn} contains 'code' with invalid value (close codes a client accepts: ` +
            '1000-1003, 1007-1014, 3000-4999)',
        );
      }
      format.code = code;
    }
    const reason = optionalString(value, pn, 'reason');
    // A close frame's payload is at most 125 bytes: the code's 2, then the reason.
    if (reason && Buffer.byteLength(reason) > 123) {
      fail(`${pn} contains 'reason' longer than 123 bytes (a close frame's limit)`);
    }
    if (reason) format.reason = reason;
    return format;
  }
  if (action !== 'send') return { action, type: 'text', content: EMPTY };

  const typeName = optionalString(value, pn, 'type');
  let type: WsMessageType | undefined;
  if (typeName !== undefined) {
    if (!isWsMessageType(typeName)) fail(`${pn} contains 'type' with unknown value`);
    type = typeName;
  }
  const format: WsMessageFormat = { action, type: type ?? 'text', content: EMPTY };
  const contentFilters = parseContentFilters(value, pn);
  if (contentFilters) format.contentFilters = contentFilters;

  if (has(value, 'content-bin')) {
    const bin = value['content-bin'];
    if (mode === 'json') {
      if (typeof bin !== 'string') fail(`${pn} contains 'content-bin' with wrong type`);
      format.content = base64Bytes(value, pn, 'content-bin');
    } else {
      if (!Buffer.isBuffer(bin)) fail(`${pn} contains 'content-bin' with wrong type`);
      format.content = bin;
    }
    format.type = type ?? 'binary';
  } else if (has(value, 'content')) {
    format.content = contentBytes(value['content'], pn, 'content');
  } else if (type === undefined || type === 'text' || type === 'binary') {
    // Ping and pong may go without a payload.
    fail(`${pn} does not contain 'content' or 'content-bin'`);
  }
  // A client fails the connection on either (RFC 6455 5.5 and 8.1).
  const key = has(value, 'content-bin') ? 'content-bin' : 'content';
  if (format.type === 'text' && !isUtf8(format.content))
    fail(`${pn} contains '${key}' ${NOT_UTF8}`);
  if (
    (format.type === 'ping' || format.type === 'pong') &&
    format.content.length > CONTROL_PAYLOAD_MAX
  ) {
    fail(
      `${pn} contains '${key}' longer than ${CONTROL_PAYLOAD_MAX} bytes, the most a ${format.type} carries`,
    );
  }
  return format;
}

function fail(message: string): never {
  throw new PublishFormatError(INVALID + message);
}

function has(obj: Keyed, key: string): boolean {
  return Object.prototype.hasOwnProperty.call(obj, key) && obj[key] !== undefined;
}

function isKeyed(value: unknown): value is Keyed {
  return (
    typeof value === 'object' && value !== null && !Array.isArray(value) && !Buffer.isBuffer(value)
  );
}

/** Pushpin's getString: a text string, or a byte string read as UTF-8. */
function asString(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (Buffer.isBuffer(value)) return value.toString('utf8');
  return undefined;
}

/** An integral number (JSON numbers are doubles; tnetstring integers may be bigints). */
function asInteger(value: unknown): number | undefined {
  if (typeof value === 'number' && Number.isInteger(value)) return value;
  if (typeof value === 'bigint') return Number(value);
  return undefined;
}

/**
 * A status or close code: an integer, or a decimal string as Pushpin's Qt conversion takes
 * it (js-grip 4 types `HttpResponseFormat.code` as a string and sends it quoted).
 */
function asCode(value: unknown): number | undefined {
  const text = asString(value);
  if (text !== undefined) return /^\s*[+-]?\d{1,9}\s*$/.test(text) ? Number(text) : undefined;
  return asInteger(value);
}

function optionalString(obj: Keyed, pn: string, key: string): string | undefined {
  if (!has(obj, key)) return undefined;
  const value = obj[key];
  const text = asString(value);
  if (text === undefined) fail(`${pn} contains '${key}' with wrong type`);
  if (Buffer.isBuffer(value) ? !isUtf8(value) : LONE_SURROGATE.test(text)) {
    fail(`${pn} contains '${key}' ${NOT_UTF8}`);
  }
  return text;
}

function requiredString(obj: Keyed, pn: string, key: string): string {
  if (!has(obj, key)) fail(`${pn} does not contain '${key}'`);
  return optionalString(obj, pn, key)!;
}

/** A string's UTF-8 bytes, or a tnetstring's raw bytes (binary-safe, checked by the caller). */
function contentBytes(value: unknown, pn: string, key: string): Buffer {
  if (typeof value === 'string') {
    if (LONE_SURROGATE.test(value)) fail(`${pn} contains '${key}' ${NOT_UTF8}`);
    return Buffer.from(value, 'utf8');
  }
  if (Buffer.isBuffer(value)) return value;
  return fail(`${pn} contains '${key}' with wrong type`);
}

/** Node's decoder skips what is not Base64 (as Pushpin's does); refuse it instead. */
function base64Bytes(obj: Keyed, pn: string, key: string): Buffer {
  const text = optionalString(obj, pn, key);
  if (!text) return EMPTY;
  if (!BASE64.test(text)) fail(`${pn} contains '${key}' that is not valid Base64`);
  return Buffer.from(text, 'base64');
}

/** A tnetstring value with every byte string read as UTF-8 text, as JSON would give it. */
function bytesAsText(value: unknown, pn: string, key: string): unknown {
  if (Buffer.isBuffer(value)) {
    if (!isUtf8(value)) fail(`${pn} contains '${key}' with a string that is not UTF-8`);
    return value.toString('utf8');
  }
  if (Array.isArray(value)) return value.map((entry) => bytesAsText(entry, pn, key));
  if (typeof value === 'object' && value !== null) {
    return Object.fromEntries(
      Object.entries(value).map(([name, entry]) => [name, bytesAsText(entry, pn, key)]),
    );
  }
  return value;
}
