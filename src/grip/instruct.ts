import { STATUS_CODES } from 'node:http';
import { GripInstructError } from '../errors.js';
import { clampTimerSeconds } from '../timer-limit.js';
import { channelNameProblem } from './channel-name.js';
import { headerFieldProblem, reasonPhraseProblem } from './header-field.js';
import { supportedFilters } from './filters.js';
import type {
  ChannelSubscription,
  GripInstruction,
  KeepAlive,
  StoredResponse,
} from './instruct-types.js';
import {
  decodeHeaderText,
  encodeHeaderText,
  findParam,
  parseHeaderInteger,
  parseHeaderParams,
  parseHeaderParts,
  splitHeaderValues,
} from './header-params.js';
import { DEFAULT_KEEP_ALIVE_TIMEOUT, parseGripKeepAlive } from './keep-alive.js';

/**
 * The `Grip-Feature` value sent to backends (protocol 6.2): exactly what thumbtack
 * implements, in Pushpin's order. Not offered: `session` (no session service) and the
 * `http-check` and `http-modify` filters (Pushpin 2.x only; see filters.ts).
 */
export const gripFeatureHeader = [
  'status',
  'link:next',
  'link:gone',
  ...supportedFilters.map((name) => `filter:${name}`),
].join(', ');

const DEFAULT_RESPONSE_TIMEOUT = 55;
const MIN_RESPONSE_TIMEOUT = 5;
const DEFAULT_NEXT_LINK_TIMEOUT = 120;
const MAX_FILTERS_PER_CHANNEL = 5;
const INSTRUCT_CONTENT_TYPE = 'application/grip-instruct';
const INSTRUCT_BODY = `${INSTRUCT_CONTENT_TYPE} body`;
/** They describe the backend hop only; the proxy frames the client response itself. */
const HOP_HEADERS = new Set(['connection', 'keep-alive', 'transfer-encoding', 'content-length']);

const noValues: readonly string[] = [];

/** A backend response as undici delivers it: header values are latin1 byte strings. */
export interface BackendResponse {
  code: number;
  /** May be empty; the standard phrase for the code is used then. */
  reason: string;
  headers: [string, string][];
  body: Buffer;
}

export interface InstructionOptions {
  /** Route `prefix`, prepended to every channel name. */
  channelPrefix?: string;
  /** `connection_subscription_max`: channels beyond this many are dropped (first N kept). */
  subscriptionMax: number;
}

type JsonObject = Record<string, unknown>;

/** Protocol 1.1: an `application/grip-instruct` body or any `Grip-*` header. */
export function isGripResponse(headers: readonly [string, string][]): boolean {
  for (const [name] of headers) if (isGripHeaderName(name)) return true;
  return mediaType(headers) === INSTRUCT_CONTENT_TYPE;
}

/**
 * The same test over undici's flat raw list (name, value, name, value, ...), as the proxy
 * gets it for every backend response: no pairs are built on that path.
 */
export function isGripRawResponse(raw: readonly (Buffer | string)[]): boolean {
  let contentType: string | undefined;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i]!;
    if (typeof name === 'string' ? isGripHeaderName(name) : hasGripPrefix(name)) return true;
    if (
      contentType === undefined &&
      name.length === 12 &&
      name.toString('latin1').toLowerCase() === 'content-type'
    ) {
      contentType = raw[i + 1]!.toString('latin1');
    }
  }
  return contentType !== undefined && toMediaType(contentType) === INSTRUCT_CONTENT_TYPE;
}

/** `grip-` in any case, read from the bytes: no string is made per header name. */
function hasGripPrefix(name: Buffer): boolean {
  // `| 0x20` lower-cases an ASCII letter and maps no other byte onto one.
  return (
    name.length >= 5 &&
    (name[0]! | 0x20) === 0x67 &&
    (name[1]! | 0x20) === 0x72 &&
    (name[2]! | 0x20) === 0x69 &&
    (name[3]! | 0x20) === 0x70 &&
    name[4] === 0x2d
  );
}

function isGripHeaderName(name: string): boolean {
  return name.length >= 5 && name.slice(0, 5).toLowerCase() === 'grip-';
}

/**
 * Reads the instructions of a GRIP response: `Grip-*` headers first, then an
 * `application/grip-instruct` JSON body on top. Throws GripInstructError (the proxy answers
 * 502) when anything cannot be followed.
 *
 * A stream hold whose channel has a prev-id but no next link is not an error here: Pushpin
 * starts that stream and then ends it; see `findStreamHoldProblem`.
 */
export function parseInstruction(
  input: BackendResponse,
  options: InstructionOptions,
): GripInstruction {
  const grip = collectGripHeaders(input.headers);
  const all = (name: string): readonly string[] => grip.get(name) ?? noValues;
  const first = (name: string): string | undefined => grip.get(name)?.[0]?.trim();

  let hold = parseHold(first('grip-hold'));
  const channels = parseChannels(all('grip-channel'));
  let timeout = parseTimeout(first('grip-timeout'));
  const exposeValues = grip.get('grip-expose-headers');
  const expose = exposeValues && splitHeaderValues(exposeValues).map((h) => h.toLowerCase());
  const exposeHeaders = expose && expose.length > 0 ? expose : undefined;
  const keepAliveHeader = grip.get('grip-keep-alive')?.[0];
  let keepAlive = keepAliveHeader === undefined ? undefined : parseGripKeepAlive(keepAliveHeader);
  const meta = parseMeta(all('grip-set-meta'));
  const status = parseStatus(first('grip-status'));
  const { nextLink, goneLink } = parseLinks(all('grip-link'));

  let response: StoredResponse = {
    code: status?.code ?? input.code,
    reason: status ? status.reason : input.reason,
    headers: keepHeaders(input.headers, exposeHeaders && new Set(exposeHeaders)),
    body: input.body,
  };

  if (mediaType(input.headers) === INSTRUCT_CONTENT_TYPE) {
    const doc = parseJsonDocument(input);
    if (Object.hasOwn(doc, 'hold')) {
      const jsonHold = expectObject(doc.hold, "instruct contains 'hold' with wrong type");
      hold = parseJsonHoldMode(jsonHold);
      channels.push(...parseJsonChannels(jsonHold));
      timeout = parseJsonTimeout(jsonHold) ?? timeout;
      keepAlive = parseJsonKeepAlive(jsonHold, keepAlive);
      Object.assign(meta, parseJsonMeta(jsonHold));
    }
    // The backend's own headers and body are discarded for JSON instructions.
    response = { code: response.code, reason: response.reason, headers: [], body: Buffer.alloc(0) };
    if (Object.hasOwn(doc, 'response')) {
      const json = expectObject(doc.response, "instruct contains 'response' with wrong type");
      response = parseJsonResponse(json, response);
    }
  }

  if (response.reason === '') response.reason = reasonPhrase(response.code);
  const prefix = options.channelPrefix ?? '';
  const channelMax = Math.max(options.subscriptionMax, 0);
  return {
    hold,
    channels:
      channels.length <= channelMax && !prefix
        ? channels
        : channels.slice(0, channelMax).map((c) => (prefix ? { ...c, name: prefix + c.name } : c)),
    timeout: clampTimerSeconds(Math.max(timeout ?? DEFAULT_RESPONSE_TIMEOUT, MIN_RESPONSE_TIMEOUT)),
    keepAlive: keepAlive && keepAlive.data.length > 0 ? keepAlive : undefined,
    status: status && { code: status.code, reason: status.reason || reasonPhrase(status.code) },
    nextLink,
    goneLink,
    meta,
    exposeHeaders,
    response,
  };
}

/**
 * The error Pushpin ends a stream hold with when a channel has a prev-id but there is no next
 * link to recover from (protocol 1.4). The stream has already started by then, so the proxy
 * sends the initial response and ends it; undefined when there is nothing wrong.
 */
export function findStreamHoldProblem(instruction: GripInstruction): string | undefined {
  if (instruction.hold !== 'stream' || instruction.nextLink) return undefined;
  const channel = instruction.channels.find((c) => c.prevId !== undefined);
  return channel && `channel '${channel.name}' specifies prev-id, but no next link found`;
}

/** The standard reason phrase for a status code, or '' for codes without one. */
export function reasonPhrase(code: number): string {
  return STATUS_CODES[code] ?? '';
}

function collectGripHeaders(headers: readonly [string, string][]): Map<string, string[]> {
  const grip = new Map<string, string[]>();
  for (const [name, value] of headers) {
    const lower = name.toLowerCase();
    if (!lower.startsWith('grip-')) continue;
    const values = grip.get(lower);
    if (values) values.push(value);
    else grip.set(lower, [value]);
  }
  return grip;
}

/** The media type of the first Content-Type header, lower-cased, without parameters. */
function mediaType(headers: readonly [string, string][]): string | undefined {
  const header = headers.find(([name]) => name.toLowerCase() === 'content-type');
  return header && toMediaType(header[1]);
}

function toMediaType(contentType: string): string {
  return contentType.split(';', 1)[0]!.trim().toLowerCase();
}

function parseHold(value: string | undefined): GripInstruction['hold'] {
  if (value === undefined) return undefined;
  // Exact and case-sensitive, as in Pushpin.
  if (value === 'response' || value === 'stream') return value;
  throw new GripInstructError(
    'Grip-Hold',
    "Grip-Hold must be set to either 'response' or 'stream'",
  );
}

function parseChannels(values: readonly string[]): ChannelSubscription[] {
  const channels: ChannelSubscription[] = [];
  for (const part of parseHeaderParts(values)) {
    // An empty part (`a,,b` or a trailing `, `) names no channel.
    if (part.value === '') continue;
    const name = decodeHeaderText(part.value);
    const prevId = findParam(part.params, 'prev-id')?.value;
    const filters: string[] = [];
    for (const p of part.params) {
      if (p.name === 'filter') filters.push(decodeHeaderText(p.value ?? ''));
    }
    const prev = prevId && decodeHeaderText(prevId);
    channels.push(channelSubscription(name, prev, filters, 'Grip-Channel'));
  }
  return channels;
}

function channelSubscription(
  name: string,
  prevId: string | undefined,
  filters: string[],
  /** Where the subscription was read, for the error. */
  source: string,
): ChannelSubscription {
  const problem = channelNameProblem(name);
  if (problem) throw new GripInstructError(source, `channel name ${problem}`);
  if (filters.length > MAX_FILTERS_PER_CHANNEL) {
    throw new GripInstructError(source, `too many filters for channel '${name}'`);
  }
  // One literal per shape, never `delete`: that turns the object into a dictionary (~250
  // bytes) which every hold keeps for its whole life.
  return prevId === undefined ? { name, filters } : { name, prevId, filters };
}

function parseTimeout(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const timeout = parseHeaderInteger(value);
  if (timeout === undefined) {
    throw new GripInstructError('Grip-Timeout', 'failed to parse Grip-Timeout');
  }
  if (timeout < 0) throw new GripInstructError('Grip-Timeout', 'Grip-Timeout has invalid value');
  return timeout;
}

function parseMeta(values: readonly string[]): Record<string, string> {
  const meta: Record<string, string> = Object.create(null);
  for (const text of splitHeaderValues(values)) {
    const params = parseHeaderParams(text);
    if (!params) continue; // unterminated quote: skipped like any unparseable part
    if (params.length === 0) {
      throw new GripInstructError('Grip-Set-Meta', 'Grip-Set-Meta cannot be empty');
    }
    // Only the first name=value of each comma-separated element counts (Pushpin).
    meta[decodeHeaderText(params[0].name)] = decodeHeaderText(params[0].value ?? '');
  }
  return meta;
}

function parseStatus(value: string | undefined): { code: number; reason: string } | undefined {
  if (!value) return undefined;
  const space = value.indexOf(' ');
  const code = parseHeaderInteger(space === -1 ? value : value.slice(0, space));
  if (code === undefined || code < 0 || code > 999) {
    throw new GripInstructError('Grip-Status', 'Grip-Status contains invalid status code');
  }
  return { code, reason: space === -1 ? '' : value.slice(space + 1) };
}

function parseLinks(values: readonly string[]): Pick<GripInstruction, 'nextLink' | 'goneLink'> {
  const links: Pick<GripInstruction, 'nextLink' | 'goneLink'> = {};
  for (const part of parseHeaderParts(values)) {
    if (part.params.length === 0) continue; // a bare `<uri>` is ignored
    const v = part.value;
    if (v.length <= 2 || !v.startsWith('<') || !v.endsWith('>')) {
      throw new GripInstructError('Grip-Link', 'failed to parse Grip-Link value');
    }
    // Kept as written; the proxy resolves relative links against the request URI.
    const uri = decodeHeaderText(v.slice(1, -1));
    if (!URL.canParse(uri, 'http://localhost/')) {
      throw new GripInstructError('Grip-Link', 'Grip-Link contains invalid link');
    }
    const rel = findParam(part.params, 'rel')?.value;
    if (rel === 'next') {
      links.nextLink = { uri, timeout: parseLinkTimeout(findParam(part.params, 'timeout')) };
    } else if (rel === 'gone') {
      links.goneLink = { uri };
    }
  }
  return links;
}

function parseLinkTimeout(param: { value: string | undefined } | undefined): number {
  if (!param) return DEFAULT_NEXT_LINK_TIMEOUT;
  const timeout = parseHeaderInteger(param.value ?? '');
  if (timeout === undefined) {
    throw new GripInstructError('Grip-Link', 'failed to parse Grip-Link timeout value');
  }
  if (timeout < 0) throw new GripInstructError('Grip-Link', 'Grip-Link timeout has invalid value');
  return clampTimerSeconds(timeout);
}

function keepHeaders(
  headers: readonly [string, string][],
  expose: Set<string> | undefined,
): [string, string][] {
  return headers.filter(([name]) => {
    const lower = name.toLowerCase();
    return !lower.startsWith('grip-') && !HOP_HEADERS.has(lower) && (!expose || expose.has(lower));
  });
}

// ---- application/grip-instruct JSON (protocol 1.13); messages follow Pushpin's wording ----

function parseJsonDocument(input: BackendResponse): JsonObject {
  if (input.code !== 200) {
    throw bodyError('response code for application/grip-instruct content must be 200');
  }
  let doc: unknown;
  try {
    doc = JSON.parse(input.body.toString('utf8'));
  } catch {
    throw bodyError('failed to parse application/grip-instruct content as JSON');
  }
  return expectObject(doc, 'instruct must be an object');
}

function parseJsonHoldMode(hold: JsonObject): 'response' | 'stream' {
  const mode = optionalString(hold, 'hold', 'mode');
  if (mode === undefined) return 'response';
  if (mode === 'response' || mode === 'stream') return mode;
  throw bodyError("hold 'mode' must be set to either 'response' or 'stream'");
}

function parseJsonChannels(hold: JsonObject): ChannelSubscription[] {
  if (!Object.hasOwn(hold, 'channels')) {
    throw bodyError("hold does not contain 'channels'");
  }
  if (!Array.isArray(hold.channels)) {
    throw bodyError("hold contains 'channels' with wrong type");
  }
  return hold.channels.map((item: unknown) => {
    const channel = expectObject(item, 'channel is not an object');
    const name = optionalString(channel, 'channel', 'name');
    if (name === undefined) throw bodyError("channel does not contain 'name'");
    const filters = channel.filters ?? [];
    if (!Array.isArray(filters)) {
      throw bodyError("channel contains 'filters' with wrong type");
    }
    if (!filters.every((f): f is string => typeof f === 'string')) {
      throw bodyError('filters contains value with wrong type');
    }
    const prevId = optionalString(channel, 'channel', 'prev-id');
    return channelSubscription(name, prevId, filters, INSTRUCT_BODY);
  });
}

function parseJsonTimeout(hold: JsonObject): number | undefined {
  if (!Object.hasOwn(hold, 'timeout')) return undefined;
  return jsonInteger(hold.timeout, 'hold', 'timeout');
}

function parseJsonKeepAlive(
  hold: JsonObject,
  fromHeader: KeepAlive | undefined,
): KeepAlive | undefined {
  if (hold['keep-alive'] == null) return fromHeader;
  const json = expectObject(hold['keep-alive'], "hold contains 'keep-alive' with wrong type");
  let data = fromHeader?.data ?? Buffer.alloc(0);
  if (Object.hasOwn(json, 'content-bin')) {
    data = Buffer.from(optionalString(json, 'keep-alive', 'content-bin') ?? '', 'base64');
  } else if (Object.hasOwn(json, 'content')) {
    if (typeof json.content !== 'string') {
      throw bodyError("keep-alive contains 'content' with wrong type");
    }
    data = Buffer.from(json.content, 'utf8');
  }
  const timeout = Object.hasOwn(json, 'timeout')
    ? jsonInteger(json.timeout, 'keep-alive', 'timeout')
    : DEFAULT_KEEP_ALIVE_TIMEOUT;
  // The JSON form has no mode; Pushpin's timer then acts like `interval` (an unconfirmed
  // quirk). We keep the header's mode, else `idle`.
  return {
    data,
    timeout: clampTimerSeconds(Math.max(timeout, 1)),
    mode: fromHeader?.mode ?? 'idle',
  };
}

function parseJsonMeta(hold: JsonObject): Record<string, string> {
  const meta: Record<string, string> = Object.create(null);
  if (hold.meta == null) return meta;
  const json = expectObject(hold.meta, "hold contains 'meta' with wrong type");
  for (const [key, value] of Object.entries(json)) {
    if (typeof value !== 'string') {
      throw bodyError(`'meta' contains '${key}' with wrong type`);
    }
    meta[key] = value;
  }
  return meta;
}

function parseJsonResponse(json: JsonObject, base: StoredResponse): StoredResponse {
  const response = { ...base };
  if (Object.hasOwn(json, 'code')) {
    response.code = jsonInteger(json.code, 'response', 'code');
    if (response.code > 999) {
      throw bodyError("response contains 'code' with invalid value");
    }
    // A code given in JSON gets its own phrase unless `reason` is given too.
    response.reason = '';
  }
  const reason = optionalString(json, 'response', 'reason');
  const reasonProblem = reason === undefined ? undefined : reasonPhraseProblem(reason);
  if (reasonProblem) throw bodyError(`response ${reasonProblem}`);
  if (reason) response.reason = encodeHeaderText(reason);
  if (Object.hasOwn(json, 'headers')) response.headers = parseJsonHeaders(json.headers);
  if (Object.hasOwn(json, 'body-bin')) {
    response.body = Buffer.from(optionalString(json, 'response', 'body-bin') ?? '', 'base64');
  } else if (Object.hasOwn(json, 'body')) {
    if (typeof json.body !== 'string') {
      throw bodyError("response contains 'body' with wrong type");
    }
    response.body = Buffer.from(json.body, 'utf8');
  }
  return response;
}

function parseJsonHeaders(value: unknown): [string, string][] {
  const headers: [string, string][] = [];
  if (Array.isArray(value)) {
    for (const pair of value) {
      if (!Array.isArray(pair)) {
        throw bodyError('headers contains element with wrong type');
      }
      if (pair.length !== 2) {
        throw bodyError('headers contains list with wrong number of elements');
      }
      const [name, val] = pair as unknown[];
      if (typeof name !== 'string') {
        throw bodyError('header contains name element with wrong type');
      }
      if (typeof val !== 'string') {
        throw bodyError('header contains value element with wrong type');
      }
      headers.push([encodeHeaderText(name), encodeHeaderText(val)]);
    }
  } else if (isObject(value)) {
    for (const [name, val] of Object.entries(value)) {
      if (typeof val !== 'string') {
        throw bodyError(`headers contains '${name}' with wrong type`);
      }
      headers.push([encodeHeaderText(name), encodeHeaderText(val)]);
    }
  } else {
    throw bodyError("response contains 'headers' with wrong type");
  }
  for (const [name, val] of headers) {
    const problem = headerFieldProblem(name, val);
    if (problem) throw bodyError(`response ${problem}`);
  }
  return keepHeaders(headers, undefined);
}

function bodyError(message: string): GripInstructError {
  return new GripInstructError(INSTRUCT_BODY, message);
}

function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function expectObject(value: unknown, message: string): JsonObject {
  if (!isObject(value)) throw bodyError(message);
  return value;
}

/** A string field that may be absent or null (both mean absent, as in Pushpin). */
function optionalString(obj: JsonObject, objName: string, field: string): string | undefined {
  const value = obj[field];
  if (value == null) return undefined;
  if (typeof value !== 'string') {
    throw bodyError(`${objName} contains '${field}' with wrong type`);
  }
  return value;
}

/** A number >= 0, truncated to an integer like Pushpin's toInt. */
function jsonInteger(value: unknown, objName: string, field: string): number {
  if (typeof value !== 'number' || !Number.isFinite(value)) {
    throw bodyError(`${objName} contains '${field}' with wrong type`);
  }
  const n = Math.trunc(value);
  if (n < 0) throw bodyError(`${objName} contains '${field}' with invalid value`);
  return n;
}
