import http from 'node:http';
import { request } from 'undici';

/** A client connection whose response is read as it arrives (a held stream or long-poll). */
export interface HeldClient {
  status: Promise<number>;
  /** Everything received so far, as text. */
  text(): string;
  /** Local TCP port of the client's connection (identifies it on the server side). */
  localPort: Promise<number>;
  isClosed(): boolean;
  /** Resolves when the response ended or the connection closed, with how it ended. */
  closed: Promise<'end' | 'error'>;
  /** Resolves once the received text contains `needle` (bounded; rejects with what arrived). */
  waitFor(needle: string, timeoutMs?: number): Promise<void>;
  /** Resolves once the received text has `count` occurrences of `needle`. */
  waitForCount(needle: string, count: number, timeoutMs?: number): Promise<void>;
  /** Resolves once at least `length` characters arrived. */
  waitForLength(length: number, timeoutMs?: number): Promise<void>;
  /** Resets the connection from the client side. */
  destroy(): void;
}

const open = new Set<HeldClient>();

/** GET with node:http on its own connection, reading the body as it comes. */
export function openHeldClient(url: string, headers: http.OutgoingHttpHeaders = {}): HeldClient {
  let received = '';
  let isClosed = false;
  const checks = new Set<() => void>();
  const notify = (): void => {
    for (const check of [...checks]) check();
  };
  let resolveStatus!: (code: number) => void;
  let rejectStatus!: (err: Error) => void;
  const status = new Promise<number>((resolve, reject) => {
    resolveStatus = resolve;
    rejectStatus = reject;
  });
  status.catch(() => undefined);
  let resolvePort!: (port: number) => void;
  const localPort = new Promise<number>((resolve) => (resolvePort = resolve));
  let resolveClosed!: (how: 'end' | 'error') => void;
  const closed = new Promise<'end' | 'error'>((resolve) => (resolveClosed = resolve));
  const finish = (how: 'end' | 'error'): void => {
    if (isClosed) return;
    isClosed = true;
    open.delete(client);
    resolveClosed(how);
    notify();
  };

  const req = http.get(url, { agent: false, headers });
  req.on('socket', (socket) => {
    if (socket.localPort) resolvePort(socket.localPort);
    else socket.once('connect', () => resolvePort(socket.localPort!));
  });
  req.on('error', (err) => {
    rejectStatus(err);
    finish('error');
  });
  req.on('response', (res) => {
    resolveStatus(res.statusCode!);
    res.setEncoding('utf8');
    res.on('data', (chunk: string) => {
      received += chunk;
      notify();
    });
    res.on('end', () => finish('end'));
    res.on('error', () => finish('error'));
    res.on('aborted', () => finish('error'));
    res.on('close', () => finish(res.complete ? 'end' : 'error'));
  });

  const waitForCondition = (
    isMet: () => boolean,
    what: string,
    timeoutMs: number,
  ): Promise<void> => {
    if (isMet()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const check = (): void => {
        if (isMet()) {
          done();
          resolve();
        } else if (isClosed) {
          done();
          reject(
            new Error(
              `${url}: closed before ${what}; received ${JSON.stringify(received.slice(-300))}`,
            ),
          );
        }
      };
      const timer = setTimeout(() => {
        done();
        reject(
          new Error(
            `${url}: no ${what} within ${timeoutMs} ms; received ${JSON.stringify(received.slice(-300))}`,
          ),
        );
      }, timeoutMs);
      const done = (): void => {
        clearTimeout(timer);
        checks.delete(check);
      };
      checks.add(check);
    });
  };

  const client: HeldClient = {
    status,
    text: () => received,
    localPort,
    isClosed: () => isClosed,
    closed,
    waitFor: (needle, timeoutMs = 5_000) =>
      waitForCondition(() => received.includes(needle), JSON.stringify(needle), timeoutMs),
    waitForCount: (needle, count, timeoutMs = 5_000) =>
      waitForCondition(
        () => received.split(needle).length - 1 >= count,
        `${count} × ${JSON.stringify(needle)}`,
        timeoutMs,
      ),
    waitForLength: (length, timeoutMs = 5_000) =>
      waitForCondition(() => received.length >= length, `${length} characters`, timeoutMs),
    destroy: () => {
      req.destroy();
      finish('error');
    },
  };
  open.add(client);
  return client;
}

/** Resets every held client a test left open (call from afterEach). */
export function closeAllHeldClients(): void {
  for (const client of [...open]) client.destroy();
}

/** POST /publish/ to the handler with plain undici; resolves with status and body. */
export async function publishItems(
  controlUrl: string,
  items: unknown[],
): Promise<{ status: number; text: string }> {
  const res = await request(`${controlUrl}/publish/`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ items }),
  });
  return { status: res.statusCode, text: await res.body.text() };
}

/** One `http-stream` item. */
export function streamItem(
  channel: string,
  content: string,
  extra: Record<string, unknown> = {},
): unknown {
  return { channel, formats: { 'http-stream': { content } }, ...extra };
}

/** One `http-response` item. */
export function responseItem(
  channel: string,
  body: string,
  extra: Record<string, unknown> = {},
): unknown {
  return { channel, formats: { 'http-response': { body } }, ...extra };
}
