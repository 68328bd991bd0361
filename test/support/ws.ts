import type http from 'node:http';
import { Readable } from 'node:stream';
import {
  encodeWebSocketEvents,
  getWebSocketContextFromNodeReq,
  isNodeReqWsOverHttp,
  type WebSocketContext,
} from '@fanoutio/grip';
import { WebSocket } from 'ws';
import { startBackend, type Backend } from './backend.js';
import { readBody } from './grip.js';

/*
 * WebSocket scenarios: a WebSocket-over-HTTP backend written with @fanoutio/grip's
 * WebSocketContext (what backend authors use), and `ws` clients with bounded waits.
 */

/** One WebSocket-over-HTTP request as the backend saw it. */
export interface WohCall {
  headers: http.IncomingHttpHeaders;
  rawHeaders: string[];
  cid: string;
  /** The request's events, decoded by js-grip (content as bytes). */
  events: { type: string; content: Buffer | undefined }[];
  /** The request body as it arrived. */
  body: Buffer;
}

/** What a scenario handler may add to (or put instead of) the library's answer. */
export interface WohReply {
  headers?: Record<string, string>;
  /** Answer after this long (a slow backend). */
  delayMs?: number;
  /** Answer with this status instead of 200 (a refusal, a failure). */
  status?: number;
  /** Send this body instead of the context's events (a malformed answer). */
  rawBody?: string | Buffer;
}

export type WohHandler = (
  ws: WebSocketContext,
  req: http.IncomingMessage,
) => void | WohReply | Promise<void | WohReply>;

export interface WohBackend extends Backend {
  calls: WohCall[];
  /**
   * The connection id thumbtack gave this client, from its OPEN request. `calls.at(-1)` is
   * not that: a previous client's late DISCONNECT or CLOSE may come after it.
   */
  cidOf(client: WsTestClient): string;
  /** Resolves with the first call (seen or future) that matches (bounded). */
  waitForCall(match: (call: WohCall) => boolean, timeoutMs?: number): Promise<WohCall>;
}

/**
 * A backend that answers WebSocket-over-HTTP requests through js-grip: `handler` gets the
 * request's WebSocketContext; its outgoing events and meta headers become the answer.
 * Other requests get 400.
 */
export async function startWohBackend(handler: WohHandler): Promise<WohBackend> {
  const calls: WohCall[] = [];
  const waiters = new Set<() => void>();
  const backend = await startBackend((req, res) => {
    void (async () => {
      if (!isNodeReqWsOverHttp(req)) {
        res.writeHead(400, { 'content-type': 'text/plain' });
        res.end('not websocket-over-http\n');
        return;
      }
      // Read here and handed to js-grip as a stream of its own, so the call keeps the bytes.
      const body = await readBody(req);
      const replayed = Object.assign(Readable.from([body]), { headers: req.headers });
      const ws = await getWebSocketContextFromNodeReq(replayed as unknown as http.IncomingMessage);
      calls.push({
        headers: req.headers,
        rawHeaders: req.rawHeaders,
        cid: ws.id,
        body,
        events: ws._inEvents.map((e) => ({
          type: e.getType(),
          content: e.getContent() === null ? undefined : Buffer.from(e.getContent()!),
        })),
      });
      for (const wake of [...waiters]) wake();
      const reply = (await handler(ws, req)) ?? {};
      if (reply.delayMs) await new Promise((r) => setTimeout(r, reply.delayMs));
      if (res.destroyed) return;
      const isLibraryAnswer = reply.status === undefined || reply.status === 200;
      res.writeHead(reply.status ?? 200, {
        ...(isLibraryAnswer ? ws.toHeaders() : {}),
        ...reply.headers,
      });
      res.end(reply.rawBody ?? Buffer.from(encodeWebSocketEvents(ws.getOutgoingEvents())));
    })().catch((err: unknown) => {
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
      res.end(String(err));
    });
  });
  const waitForCall = (match: (call: WohCall) => boolean, timeoutMs = 10_000): Promise<WohCall> =>
    new Promise((resolve, reject) => {
      const check = (): boolean => {
        const found = calls.find(match);
        if (!found) return false;
        clearTimeout(timer);
        waiters.delete(wake);
        resolve(found);
        return true;
      };
      const wake = (): void => void check();
      const timer = setTimeout(() => {
        waiters.delete(wake);
        reject(
          new Error(
            `no matching backend call within ${timeoutMs} ms; calls: ${describeCalls(calls)}`,
          ),
        );
      }, timeoutMs);
      if (!check()) waiters.add(wake);
    });
  const cidOf = (client: WsTestClient): string => {
    const open = calls.find(
      (call) => call.headers[testClientHeader] === client.id && call.events[0]?.type === 'OPEN',
    );
    if (!open) throw new Error(`no OPEN request from test client ${client.id}`);
    return open.cid;
  };
  return Object.assign(backend, { calls, waitForCall, cidOf });
}

/** Reads every complete message the context holds (TEXT/BINARY as text), stopping at CLOSE. */
export function receiveAll(ws: WebSocketContext): string[] {
  const out: string[] = [];
  while (ws.canRecv()) {
    const message = ws.recv();
    if (message === null) break;
    out.push(message);
  }
  return out;
}

export function describeCalls(calls: readonly WohCall[]): string {
  return JSON.stringify(
    calls.map((c) =>
      c.events.map((e) => (e.content ? `${e.type}:${e.content.toString('latin1')}` : e.type)),
    ),
  );
}

export interface Received {
  data: Buffer;
  isBinary: boolean;
  text: string;
}

export interface WsTestClient {
  socket: WebSocket;
  /** Sent as the X-Test-Client handshake header, which WebSocket-over-HTTP requests replay. */
  id: string;
  /** Headers of the 101 answer. */
  headers: http.IncomingHttpHeaders;
  /** Resolves with the next message not yet taken (bounded). */
  next(timeoutMs?: number): Promise<Received>;
  /** Resolves with the next ping's payload (bounded). */
  nextPing(timeoutMs?: number): Promise<Buffer>;
  /** Messages received and not yet taken by next(). */
  pending: Received[];
  /** Resolves when the connection closes, with the close code and reason. */
  closed: Promise<{ code: number; reason: string }>;
  /** Waits (bounded) for the close. */
  waitForClose(timeoutMs?: number): Promise<{ code: number; reason: string }>;
}

export interface Refusal {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

const clients = new Set<WebSocket>();
const testClientHeader = 'x-test-client';
let clientCount = 0;

/** Opens a `ws` client; rejects with a Refusal-carrying error if the upgrade is answered otherwise. */
export function connectWs(
  url: string,
  options: {
    protocols?: string[];
    headers?: Record<string, string>;
    perMessageDeflate?: boolean;
  } = {},
): Promise<WsTestClient> {
  return new Promise((resolve, reject) => {
    const id = `${process.pid}-${++clientCount}`;
    const socket = new WebSocket(url, options.protocols ?? [], {
      headers: { [testClientHeader]: id, ...options.headers },
      perMessageDeflate: options.perMessageDeflate ?? false,
      handshakeTimeout: 10_000,
    });
    clients.add(socket);
    const pending: Received[] = [];
    const pings: Buffer[] = [];
    const wakers = new Set<() => void>();
    const wake = (): void => {
      for (const fn of [...wakers]) fn();
    };
    let headers: http.IncomingHttpHeaders = {};
    let closeInfo: { code: number; reason: string } | undefined;
    const closed = new Promise<{ code: number; reason: string }>((resolveClose) => {
      socket.on('close', (code, reason) => {
        clients.delete(socket);
        closeInfo = { code, reason: reason.toString() };
        resolveClose(closeInfo);
        wake();
      });
    });
    socket.on('upgrade', (res) => (headers = res.headers));
    socket.on('message', (data: Buffer, isBinary) => {
      pending.push({ data, isBinary, text: data.toString() });
      wake();
    });
    socket.on('ping', (data: Buffer) => {
      pings.push(data);
      wake();
    });
    socket.on('unexpected-response', (req, res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => {
        req.destroy();
        clients.delete(socket);
        const refusal: Refusal = {
          status: res.statusCode ?? 0,
          headers: res.headers,
          body: Buffer.concat(chunks).toString(),
        };
        reject(Object.assign(new Error(`upgrade refused with ${refusal.status}`), { refusal }));
      });
    });
    socket.on('error', (err) => reject(err));
    const take = <T>(list: T[], what: string, timeoutMs: number): Promise<T> =>
      new Promise((resolveTake, rejectTake) => {
        const check = (): void => {
          if (list.length > 0) {
            finish();
            resolveTake(list.shift()!);
          } else if (closeInfo) {
            finish();
            rejectTake(
              new Error(`closed (${closeInfo.code} ${closeInfo.reason}) before the next ${what}`),
            );
          }
        };
        const timer = setTimeout(() => {
          finish();
          rejectTake(new Error(`no ${what} within ${timeoutMs} ms`));
        }, timeoutMs);
        const finish = (): void => {
          clearTimeout(timer);
          wakers.delete(check);
        };
        wakers.add(check);
        check();
      });
    socket.on('open', () =>
      resolve({
        socket,
        id,
        headers,
        pending,
        next: (timeoutMs = 5_000) => take(pending, 'message', timeoutMs),
        nextPing: (timeoutMs = 5_000) => take(pings, 'ping', timeoutMs),
        closed,
        waitForClose: (timeoutMs = 5_000) =>
          Promise.race([
            closed,
            new Promise<never>((_, rejectWait) =>
              setTimeout(
                () => rejectWait(new Error(`not closed within ${timeoutMs} ms`)),
                timeoutMs,
              ).unref(),
            ),
          ]),
      }),
    );
  });
}

/** Expects the upgrade to be answered with an HTTP response; returns it. */
export async function expectRefusal(
  url: string,
  options: { protocols?: string[]; headers?: Record<string, string> } = {},
): Promise<Refusal> {
  try {
    const client = await connectWs(url, options);
    client.socket.terminate();
  } catch (err) {
    const refusal = (err as { refusal?: Refusal }).refusal;
    if (refusal) return refusal;
    throw err;
  }
  throw new Error('the upgrade was accepted');
}

/** Terminates every client a test left open (call from afterEach). */
export function closeAllWsClients(): void {
  for (const socket of clients) socket.terminate();
  clients.clear();
}

/** A `ws-message` publish item. */
export function wsItem(
  channel: string,
  format: Record<string, unknown>,
  extra: Record<string, unknown> = {},
) {
  return { channel, formats: { 'ws-message': format }, ...extra };
}
