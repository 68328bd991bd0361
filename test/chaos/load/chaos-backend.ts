import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { decodeWsEvents, encodeWsEvents, type WsEvent } from '../../../src/grip/ws-events.js';
import { WS_EVENTS_CONTENT_TYPE } from '../../../src/grip/ws-over-http.js';

/**
 * The backend every chaos scenario puts behind thumbtack, on 127.0.0.1:
 * - `/plain`: 200 `plain ok` at once;
 * - `/sse?ch=C`: an SSE stream hold on channel C;
 * - `/poll?ch=C`: a long-poll hold on C (`timeout` when it expires after `Grip-Timeout`);
 * - WebSocket-over-HTTP (any path, `?ch=C`): OPEN accepted and subscribed to C, each TEXT
 *   answered with `echo <text>`.
 * `down()` closes the port and every connection; `up()` listens on the same port again.
 */
export interface ChaosBackend {
  port: number;
  /** `127.0.0.1:port`, as a routes file target. */
  target: string;
  /** WebSocket-over-HTTP requests answered (OPEN, messages, CLOSE). */
  wsRequests: number;
  isUp(): boolean;
  down(): Promise<void>;
  up(): Promise<void>;
  close(): Promise<void>;
}

/** Seconds a long-poll is held before it answers `timeout`. */
export const pollTimeoutSeconds = 20;

export async function startChaosBackend(): Promise<ChaosBackend> {
  let wsRequests = 0;
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://backend');
    const channel = url.searchParams.get('ch') ?? 'none';
    if (req.headers['content-type'] === WS_EVENTS_CONTENT_TYPE) {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        wsRequests++;
        const answer = answerWsEvents(decodeWsEvents(Buffer.concat(chunks)), channel);
        res.writeHead(200, {
          'content-type': WS_EVENTS_CONTENT_TYPE,
          'sec-websocket-extensions': 'grip',
        });
        res.end(encodeWsEvents(answer));
      });
      return;
    }
    if (url.pathname === '/sse') {
      res.writeHead(200, {
        'content-type': 'text/event-stream',
        'grip-hold': 'stream',
        'grip-channel': channel,
      });
      res.end(':open\n\n');
    } else if (url.pathname === '/poll') {
      res.writeHead(200, {
        'content-type': 'text/plain',
        'grip-hold': 'response',
        'grip-channel': channel,
        'grip-timeout': String(pollTimeoutSeconds),
      });
      res.end('timeout');
    } else {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end('plain ok');
    }
  });
  server.keepAliveTimeout = 30_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  let isUp = true;
  const down = async (): Promise<void> => {
    if (!isUp) return;
    isUp = false;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeAllConnections();
    await closed;
  };
  return {
    port,
    target: `127.0.0.1:${port}`,
    get wsRequests() {
      return wsRequests;
    },
    isUp: () => isUp,
    down,
    up: async () => {
      if (isUp) return;
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, '127.0.0.1', () => {
          server.off('error', reject);
          resolve();
        });
      });
      isUp = true;
    },
    close: down,
  };
}

function answerWsEvents(events: WsEvent[], channel: string): WsEvent[] {
  const out: WsEvent[] = [];
  for (const event of events) {
    if (event.type === 'OPEN') {
      out.push({ type: 'OPEN' });
      const subscribe = JSON.stringify({ type: 'subscribe', channel });
      out.push({ type: 'TEXT', content: Buffer.from(`c:${subscribe}`) });
    } else if (event.type === 'TEXT') {
      // A grip session's messages to the client carry the `m:` prefix (control ones `c:`).
      out.push({ type: 'TEXT', content: Buffer.from(`m:echo ${event.content?.toString() ?? ''}`) });
    } else if (event.type === 'CLOSE') {
      out.push({ type: 'CLOSE', content: event.content });
    }
  }
  return out;
}

/** Routes for the chaos backend: `/ws` over WebSocket-over-HTTP (route `chaos-ws`), the rest `chaos`. */
export function chaosRoutes(target: string): string {
  return `*,path_beg=/ws,id=chaos-ws ${target},over_http\n*,id=chaos ${target}\n`;
}
