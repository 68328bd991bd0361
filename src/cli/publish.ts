import fs from 'node:fs/promises';
import { isUtf8 } from 'node:buffer';
import { parseArgs } from 'node:util';
import { SignJWT } from 'jose';
import { request } from 'undici';
import { envName } from '../config/schema.js';
import { secretBytes } from '../grip/grip-sig.js';

/*
 * `thumbtack publish CHANNEL [content]`, modelled on pushpin-publish: one item carrying
 * every selected format, `\n` appended to HTTP payloads given on the command line, sent
 * to the control API's `POST /publish/`.
 */

const FORMATS = ['http-response', 'http-stream', 'ws-message'] as const;
type FormatName = (typeof FORMATS)[number];

const USAGE = `Usage: thumbtack publish CHANNEL [content] [options]

Publishes one item to CHANNEL through the handler's control API. Content comes from the
argument (HTTP payloads get a trailing newline, as pushpin-publish does), or as raw bytes
from --file PATH, or from standard input when absent or "-".

Options:
  --format NAME         http-stream, http-response, ws-message or all (default all);
                        repeat or comma-separate for several
  --id ID               item id
  --prev-id ID          id of the previous item on the channel
  --sender NAME         meta "sender" (for the skip-self filter)
  -M, --meta K=V        meta value, repeatable
  --no-seq              bypass the reorder buffer
  --close               close streams and WebSockets instead of sending content
  --hint                send a hint instead of content
  --code N              HTTP response code for http-response (default 200)
  -H, --header 'N: V'   HTTP response header for http-response, repeatable
  --file PATH           read the content from a file, sent as is
  --no-eol              do not append a newline to HTTP payloads (also --no-newline)
  --control-uri URI     control API base (default http://127.0.0.1:<THUMBTACK_CONTROL_PORT or 5561>)
  --token TOKEN         send Authorization: Bearer TOKEN (default THUMBTACK_CONTROL_TOKEN)
  --jwt-key KEY         send a Bearer JWT signed HS256 with KEY (default THUMBTACK_CONTROL_JWT_KEY)
  -h, --help

Environment: GRIP_URL, as the GRIP libraries and pushpin-publish read it
(http://host:5561?iss=ISS&key=KEY, key may be base64:...), gives the control API and its
credentials when the flags above do not: with iss, a JWT {iss} signed HS256 with key; with
key alone, Bearer key.
`;

class UsageError extends Error {}

/** Runs the command with the arguments after `publish`; resolves to the exit code. */
export async function runPublish(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      strict: true,
      options: {
        format: { type: 'string', multiple: true },
        id: { type: 'string' },
        'prev-id': { type: 'string' },
        sender: { type: 'string' },
        meta: { type: 'string', short: 'M', multiple: true },
        'no-seq': { type: 'boolean' },
        close: { type: 'boolean' },
        hint: { type: 'boolean' },
        code: { type: 'string' },
        header: { type: 'string', short: 'H', multiple: true },
        file: { type: 'string' },
        'no-eol': { type: 'boolean' },
        'no-newline': { type: 'boolean' },
        'control-uri': { type: 'string' },
        token: { type: 'string' },
        'jwt-key': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (err) {
    return usageError((err as Error).message);
  }
  const { values, positionals } = parsed;
  if (values.help) {
    process.stdout.write(USAGE);
    return 0;
  }

  let item: Record<string, unknown>;
  try {
    if (positionals.length < 1) throw new UsageError('missing CHANNEL');
    if (positionals.length > 2) throw new UsageError(`unexpected argument "${positionals[2]}"`);
    if (values.close && values.hint) throw new UsageError('--close and --hint exclude each other');
    const formats = selectFormats(values.format);
    const channel = positionals[0]!;
    const code = parseCode(values.code);
    const headers = (values.header ?? []).map(parseHeader);
    const meta = parseMeta(values.meta ?? [], values.sender);

    let formatValues: Partial<Record<FormatName, Record<string, unknown>>>;
    if (values.hint) {
      formatValues = pick(formats, () => ({ action: 'hint' }));
    } else if (values.close) {
      formatValues = pick(formats, (name) =>
        name === 'http-response' ? undefined : { action: 'close' },
      );
    } else {
      const content = await readContent(positionals[1], values.file);
      const isEol = !values['no-eol'] && !values['no-newline'] && content.isArgument;
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
    if (Object.keys(formatValues).length === 0) {
      throw new UsageError(
        'nothing to publish: --close applies to http-stream and ws-message only',
      );
    }
    item = { channel, formats: formatValues };
    if (values.id !== undefined) item['id'] = values.id;
    if (values['prev-id'] !== undefined) item['prev-id'] = values['prev-id'];
    if (Object.keys(meta).length > 0) item['meta'] = meta;
    if (values['no-seq']) item['no-seq'] = true;
  } catch (err) {
    if (err instanceof UsageError) return usageError(err.message);
    process.stderr.write(`thumbtack publish: ${(err as Error).message}\n`);
    return 1;
  }

  let grip: GripUrl | undefined;
  try {
    grip = readGripUrl(process.env['GRIP_URL']);
  } catch (err) {
    return usageError((err as Error).message);
  }
  const base = values['control-uri'] ?? grip?.controlUri ?? defaultControlUri();
  const url = base.replace(/\/+$/, '') + '/publish/';
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  // Credentials: the flags, then GRIP_URL's, then the THUMBTACK_* variables.
  const isFromEnv = grip === undefined;
  const token = values.token ?? (isFromEnv ? process.env[envName('controlToken')] : undefined);
  const jwtKey =
    values['jwt-key'] ?? (isFromEnv ? process.env[envName('controlJwtKey')] : undefined);
  if (token) headers['authorization'] = `Bearer ${token}`;
  else if (jwtKey) headers['authorization'] = `Bearer ${await signJwt(jwtKey, 'thumbtack')}`;
  else if (grip?.key && grip.iss) {
    headers['authorization'] = `Bearer ${await signJwt(grip.key, grip.iss)}`;
  } else if (grip?.key) headers['authorization'] = `Bearer ${grip.key}`;

  try {
    const response = await request(url, {
      method: 'POST',
      headers,
      body: JSON.stringify({ items: [item] }),
    });
    const text = await response.body.text();
    if (response.statusCode < 200 || response.statusCode >= 300) {
      process.stderr.write(text || `HTTP ${response.statusCode}\n`);
      return 1;
    }
    process.stdout.write('Published\n');
    return 0;
  } catch (err) {
    process.stderr.write(`thumbtack publish: cannot reach ${url}: ${(err as Error).message}\n`);
    return 1;
  }
}

function usageError(message: string): number {
  process.stderr.write(`thumbtack publish: ${message}\n\n${USAGE}`);
  return 2;
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
): Partial<Record<FormatName, Record<string, unknown>>> {
  const out: Partial<Record<FormatName, Record<string, unknown>>> = {};
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
    return { bytes: await fs.readFile(file), isArgument: false };
  }
  if (argument !== undefined && argument !== '-') {
    return { bytes: Buffer.from(argument, 'utf8'), isArgument: true };
  }
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return { bytes: Buffer.concat(chunks), isArgument: false };
}

function defaultControlUri(): string {
  const port = process.env[envName('controlPort')] || '5561';
  return `http://127.0.0.1:${port}`;
}

interface GripUrl {
  controlUri: string;
  iss?: string;
  key?: string;
}

/** GRIP_URL as the GRIP libraries read it: the control URI, with `iss` and `key` in its query. */
function readGripUrl(text: string | undefined): GripUrl | undefined {
  if (text === undefined || text === '') return undefined;
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new UsageError(
      `GRIP_URL "${text}" is not a URL (e.g. http://127.0.0.1:5561?iss=me&key=secret)`,
    );
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new UsageError(`GRIP_URL "${text}" must be an http:// or https:// URL`);
  }
  const iss = url.searchParams.get('iss') ?? undefined;
  const key = url.searchParams.get('key') ?? undefined;
  if (iss !== undefined && !key) throw new UsageError(`GRIP_URL "${text}" has iss but no key`);
  url.search = '';
  url.hash = '';
  return { controlUri: url.toString(), iss, key };
}

function signJwt(key: string, iss: string): Promise<string> {
  const secret = secretBytes(key);
  return new SignJWT({ iss })
    .setProtectedHeader({ alg: 'HS256' })
    .setExpirationTime('10m')
    .sign(secret);
}
