import type http from 'node:http';
import { jwtVerify, SignJWT, type JWTPayload } from 'jose';
import { request } from 'undici';
import { startBackend, type Backend } from './backend.js';
import type { Thumbtack } from './thumbtack.js';

/*
 * Helpers for GRIP scenarios: a backend answering by path (each test registers its own
 * paths), publishing through the control API, and clients that hold a response or read a
 * stream chunk by chunk with bounded waits.
 */

export interface PathBackend extends Backend {
  /** Answers requests for `path` (query ignored) with `handler` from now on. */
  on(path: string, handler: http.RequestListener): void;
  /** Requests seen for `path`, in order. */
  requestsTo(path: string): http.IncomingMessage[];
  /** Resolves when `path` has been requested `count` times (bounded). */
  waitForRequests(path: string, count: number, timeoutMs?: number): Promise<http.IncomingMessage[]>;
}

/** A backend whose answers are registered per path; unknown paths get 404. */
export async function startPathBackend(): Promise<PathBackend> {
  const handlers = new Map<string, http.RequestListener>();
  const waiters = new Set<() => void>();
  const backend = await startBackend((req, res) => {
    const handler = handlers.get(pathOf(req));
    if (handler) handler(req, res);
    else {
      res.writeHead(404, { 'content-type': 'text/plain' });
      res.end('no handler\n');
    }
    for (const wake of [...waiters]) wake();
  });
  const requestsTo = (path: string): http.IncomingMessage[] =>
    backend.requests.filter((req) => pathOf(req) === path);
  return Object.assign(backend, {
    on(path: string, handler: http.RequestListener) {
      handlers.set(path, handler);
    },
    requestsTo,
    waitForRequests(path: string, count: number, timeoutMs = 10_000) {
      return new Promise<http.IncomingMessage[]>((resolve, reject) => {
        const check = (): boolean => {
          const seen = requestsTo(path);
          if (seen.length < count) return false;
          clearTimeout(timer);
          waiters.delete(wake);
          resolve(seen);
          return true;
        };
        const wake = (): void => void check();
        const timer = setTimeout(() => {
          waiters.delete(wake);
          reject(new Error(`${path} requested ${requestsTo(path).length} times, not ${count}`));
        }, timeoutMs);
        if (!check()) waiters.add(wake);
      });
    },
  });
}

function pathOf(req: http.IncomingMessage): string {
  return new URL(req.url ?? '/', 'http://backend').pathname;
}

/** Reads a request body to the end (for backends). */
export function readBody(req: http.IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

/** A backend handler that answers with these headers and body. */
export function answer(
  headers: Record<string, string | string[]>,
  body = '',
  status = 200,
): http.RequestListener {
  return (_req, res) => {
    res.writeHead(status, headers);
    res.end(body);
  };
}

export interface PublishResult {
  status: number;
  text: string;
}

/** POSTs `{"items": items}` to the instance's control API. */
export async function publish(
  instance: Pick<Thumbtack, 'controlUrl'>,
  items: unknown[],
  headers: Record<string, string> = {},
): Promise<PublishResult> {
  return postPublish(instance, JSON.stringify({ items }), headers);
}

/** POSTs a raw body to `/publish/`. */
export async function postPublish(
  instance: Pick<Thumbtack, 'controlUrl'>,
  body: string | Buffer,
  headers: Record<string, string> = {},
): Promise<PublishResult> {
  const res = await request(`${instance.controlUrl}/publish/`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body,
  });
  return { status: res.statusCode, text: await res.body.text() };
}

/** Publishes one item and expects the control API to accept it. */
export async function publishOk(
  instance: Pick<Thumbtack, 'controlUrl'>,
  ...items: unknown[]
): Promise<void> {
  const result = await publish(instance, items);
  if (result.status !== 200) throw new Error(`publish failed: ${result.status} ${result.text}`);
}

/** An `http-stream` item. */
export function streamItem(
  channel: string,
  content: string,
  extra: Record<string, unknown> = {},
): Record<string, unknown> {
  return { channel, formats: { 'http-stream': { content } }, ...extra };
}

export interface StreamClient {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  /** Everything received so far. */
  received(): Buffer;
  text(): string;
  /** Chunks as they arrived (a proxy write may be split or merged by TCP, so compare text). */
  chunks: Buffer[];
  /** Resolves with the text so far once it contains `expected` (bounded). */
  waitForText(expected: string, timeoutMs?: number): Promise<string>;
  /** Resolves when the response ends normally; rejects if it errors or stays open (bounded). */
  waitForEnd(timeoutMs?: number): Promise<string>;
  readonly isEnded: boolean;
  /** Leaves: destroys the connection. */
  close(): void;
}

/** Opens a request and reads its body as it streams in. */
export async function openStream(
  url: string,
  options: { method?: 'GET' | 'POST'; headers?: Record<string, string>; body?: string } = {},
): Promise<StreamClient> {
  const res = await request(url, {
    method: options.method ?? 'GET',
    headers: options.headers,
    body: options.body,
    bodyTimeout: 0,
  });
  const chunks: Buffer[] = [];
  const wakers = new Set<() => void>();
  let isEnded = false;
  let error: Error | undefined;
  const wake = (): void => {
    for (const fn of [...wakers]) fn();
  };
  res.body.on('data', (chunk: Buffer) => {
    chunks.push(chunk);
    wake();
  });
  res.body.on('end', () => {
    isEnded = true;
    wake();
  });
  res.body.on('error', (err: Error) => {
    error = err;
    wake();
  });
  const received = (): Buffer => Buffer.concat(chunks);
  const waitFor = <T>(check: () => T | undefined, what: () => string, timeoutMs: number) =>
    new Promise<T>((resolve, reject) => {
      const waker = (): void => {
        let value: T | undefined;
        try {
          value = check();
        } catch (err) {
          finish();
          reject(err as Error);
          return;
        }
        if (value === undefined) return;
        finish();
        resolve(value);
      };
      const timer = setTimeout(() => {
        finish();
        reject(new Error(`${what()}; received so far: ${JSON.stringify(received().toString())}`));
      }, timeoutMs);
      const finish = (): void => {
        clearTimeout(timer);
        wakers.delete(waker);
      };
      wakers.add(waker);
      waker();
    });
  return {
    status: res.statusCode,
    headers: res.headers,
    chunks,
    received,
    text: () => received().toString(),
    get isEnded() {
      return isEnded;
    },
    waitForText(expected, timeoutMs = 5_000) {
      return waitFor(
        () => {
          const text = received().toString();
          if (text.includes(expected)) return text;
          if (isEnded || error)
            throw new Error(
              `stream ended before ${JSON.stringify(expected)}: ${JSON.stringify(text)}`,
            );
          return undefined;
        },
        () => `no ${JSON.stringify(expected)} within ${timeoutMs} ms`,
        timeoutMs,
      );
    },
    waitForEnd(timeoutMs = 5_000) {
      return waitFor(
        () => {
          if (error) throw error;
          return isEnded ? received().toString() : undefined;
        },
        () => `stream still open after ${timeoutMs} ms`,
        timeoutMs,
      );
    },
    close() {
      res.body.destroy();
    },
  };
}

const tracked = new Set<StreamClient>();

/** openStream, closed by closeTrackedStreams() (afterEach): a stop then waits for no held stream. */
export async function openTrackedStream(
  url: string,
  options?: Parameters<typeof openStream>[1],
): Promise<StreamClient> {
  const stream = await openStream(url, options);
  tracked.add(stream);
  return stream;
}

export function closeTrackedStreams(): void {
  for (const stream of tracked) stream.close();
  tracked.clear();
}

let counter = 0;
/** A channel (or path) name no other test in the process uses. */
export function uniqueName(label: string): string {
  return `${label}-${process.pid}-${++counter}`;
}

/**
 * Verifies a request's `Grip-Sig` as a GRIP backend would (protocol 6.1): an HS256 JWT
 * signed with `key`, issued by `issuer`, with an `exp` still ahead. Resolves with its
 * claims; rejects (jose's error) when any of that does not hold. The defaults are
 * thumbtack's own (`--sig-key changeme`, `--sig-iss pushpin`).
 */
export async function verifyGripSigHeader(
  header: string | string[] | undefined,
  { key = 'changeme', issuer = 'pushpin' }: { key?: string; issuer?: string } = {},
): Promise<JWTPayload> {
  if (typeof header !== 'string') throw new Error(`no single Grip-Sig header: ${String(header)}`);
  const { payload } = await jwtVerify(header, new TextEncoder().encode(key), {
    issuer,
    algorithms: ['HS256'],
    requiredClaims: ['exp'],
  });
  return payload;
}

/** An HS256 Grip-Sig as a GRIP proxy would send it: issued by `issuer`, valid for an hour. */
export function signGripSigToken(key: string, issuer: string): Promise<string> {
  return new SignJWT({ iss: issuer })
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setExpirationTime('1h')
    .sign(new TextEncoder().encode(key));
}

/**
 * A backend where any path holds a stream (`opened\n`) on the channel its last segment
 * names; `seen` has the headers of each request, by path.
 */
export async function startStreamHoldBackend(): Promise<{
  backend: Backend;
  seen: Map<string, http.IncomingHttpHeaders>;
}> {
  const seen = new Map<string, http.IncomingHttpHeaders>();
  const backend = await startBackend((req, res) => {
    seen.set(req.url!, req.headers);
    res.writeHead(200, {
      'Content-Type': 'text/plain',
      'Grip-Hold': 'stream',
      'Grip-Channel': req.url!.split('/').pop()!,
    });
    res.end('opened\n');
  });
  return { backend, seen };
}
