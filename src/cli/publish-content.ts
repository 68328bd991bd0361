import fs from 'node:fs/promises';
import { isUtf8 } from 'node:buffer';
import { UsageError } from './usage-error.js';

/*
 * The item `thumbtack publish` sends, built as pushpin-publish builds it: one item carrying
 * every selected format, `\n` appended to HTTP payloads given on the command line, and
 * `--patch` content sent as an `http-response` `body-patch` alone.
 */

const FORMATS = ['http-response', 'http-stream', 'ws-message'] as const;
type FormatName = (typeof FORMATS)[number];
type Formats = Partial<Record<FormatName, Record<string, unknown>>>;

/** What the command line says about the item (the options already parsed by parseArgs). */
export interface ItemRequest {
  channel: string;
  /** The content argument: text, `-` for stdin, or `@PATH` for a file (as pushpin-publish). */
  content: string | undefined;
  file: string | undefined;
  format: string[] | undefined;
  id: string | undefined;
  prevId: string | undefined;
  sender: string | undefined;
  meta: string[];
  code: string | undefined;
  header: string[];
  isNoSeq: boolean;
  isClose: boolean;
  isHint: boolean;
  isPatch: boolean;
  isNoEol: boolean;
}

/** The publish item, as the control API's `items` entries and the ZeroMQ inputs take it. */
export async function buildItem(request: ItemRequest): Promise<Record<string, unknown>> {
  const actions = [
    request.isClose && '--close',
    request.isHint && '--hint',
    request.isPatch && '--patch',
  ].filter(Boolean);
  if (actions.length > 1) throw new UsageError(`${actions.join(' and ')} exclude each other`);
  const formats = selectFormats(request.format);
  const code = parseCode(request.code);
  const headers = request.header.map(parseHeader);
  const meta = parseMeta(request.meta, request.sender);

  let formatValues: Formats;
  if (request.isHint) {
    formatValues = pick(formats, () => ({ action: 'hint' }));
  } else if (request.isClose) {
    formatValues = pick(formats, (name) =>
      name === 'http-response' ? undefined : { action: 'close' },
    );
    if (Object.keys(formatValues).length === 0) {
      throw new UsageError(
        'nothing to publish: --close applies to http-stream and ws-message only',
      );
    }
  } else if (request.isPatch) {
    const others = request.format && [...formats].filter((name) => name !== 'http-response');
    if (others && others.length > 0) {
      throw new UsageError(`--patch publishes http-response only, not ${others.join(', ')}`);
    }
    const content = await readContent(request.content, request.file);
    const response: Record<string, unknown> = {
      code,
      'body-patch': parsePatch(content.bytes),
    };
    if (headers.length > 0) response['headers'] = headers;
    formatValues = { 'http-response': response };
  } else {
    const content = await readContent(request.content, request.file);
    const isEol = !request.isNoEol && content.isArgument;
    const http = isEol ? Buffer.concat([content.bytes, Buffer.from('\n')]) : content.bytes;
    formatValues = pick(formats, (name) => {
      if (name === 'http-response') {
        const response: Record<string, unknown> = { code, ...payload('body', http) };
        if (headers.length > 0) response['headers'] = headers;
        return response;
      }
      return payload('content', name === 'http-stream' ? http : content.bytes);
    });
  }
  const item: Record<string, unknown> = { channel: request.channel, formats: formatValues };
  if (request.id !== undefined) item['id'] = request.id;
  if (request.prevId !== undefined) item['prev-id'] = request.prevId;
  if (Object.keys(meta).length > 0) item['meta'] = meta;
  if (request.isNoSeq) item['no-seq'] = true;
  return item;
}

function selectFormats(given: string[] | undefined): Set<FormatName> {
  if (!given || given.length === 0) return new Set(FORMATS);
  const out = new Set<FormatName>();
  for (const name of given.flatMap((entry) => entry.split(',')).map((s) => s.trim())) {
    if (name === 'all') FORMATS.forEach((f) => out.add(f));
    else if ((FORMATS as readonly string[]).includes(name)) out.add(name as FormatName);
    else throw new UsageError(`unknown format "${name}"; use ${FORMATS.join(', ')} or all`);
  }
  return out;
}

function pick(
  formats: Set<FormatName>,
  build: (name: FormatName) => Record<string, unknown> | undefined,
): Formats {
  const out: Formats = {};
  for (const name of FORMATS) {
    if (!formats.has(name)) continue;
    const value = build(name);
    if (value) out[name] = value;
  }
  return out;
}

function parseCode(text: string | undefined): number {
  if (text === undefined) return 200;
  const code = Number(text);
  if (!/^\d+$/.test(text) || code > 999) {
    throw new UsageError('--code must be an integer between 0 and 999');
  }
  return code;
}

function parseHeader(text: string): [string, string] {
  const colon = text.indexOf(':');
  if (colon <= 0) throw new UsageError(`header must be in the form "Name: value", got "${text}"`);
  return [text.slice(0, colon).trim(), text.slice(colon + 1).trim()];
}

function parseMeta(entries: string[], sender: string | undefined): Record<string, string> {
  const meta: Record<string, string> = {};
  if (sender) meta['sender'] = sender;
  for (const entry of entries) {
    const eq = entry.indexOf('=');
    if (eq <= 0) throw new UsageError(`meta must be in the form "name=value", got "${entry}"`);
    meta[entry.slice(0, eq)] = entry.slice(eq + 1).trim();
  }
  return meta;
}

/** The `--patch` content: a JSON array (the operations are checked where the item is parsed). */
function parsePatch(bytes: Buffer): unknown[] {
  let operations: unknown;
  try {
    operations = JSON.parse(bytes.toString('utf8'));
  } catch (err) {
    throw new Error(`--patch content is not JSON: ${(err as Error).message}`, { cause: err });
  }
  if (!Array.isArray(operations)) {
    throw new Error(
      '--patch content must be a JSON array of RFC 6902 operations, e.g. [{"op":"replace","path":"/n","value":2}]',
    );
  }
  return operations;
}

/** Text goes as a string field; other bytes as the Base64 `-bin` field (binary for WebSocket). */
function payload(field: 'body' | 'content', bytes: Buffer): Record<string, string> {
  return isUtf8(bytes)
    ? { [field]: bytes.toString('utf8') }
    : { [`${field}-bin`]: bytes.toString('base64') };
}

async function readContent(
  argument: string | undefined,
  file: string | undefined,
): Promise<{ bytes: Buffer; isArgument: boolean }> {
  if (file !== undefined) {
    if (argument !== undefined) throw new UsageError('give content or --file, not both');
    return { bytes: await readFile(file), isArgument: false };
  }
  // pushpin-publish reads `@PATH` as the file's bytes, sent as they are.
  if (argument?.startsWith('@'))
    return { bytes: await readFile(argument.slice(1)), isArgument: false };
  if (argument !== undefined && argument !== '-') {
    return { bytes: Buffer.from(argument, 'utf8'), isArgument: true };
  }
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return { bytes: Buffer.concat(chunks), isArgument: false };
}

async function readFile(file: string): Promise<Buffer> {
  try {
    return await fs.readFile(file);
  } catch (err) {
    throw new Error(`cannot read ${file}: ${(err as Error).message}`, { cause: err });
  }
}
