import http from 'node:http';
import {
  encodeWebSocketEvents,
  getWebSocketContextFromNodeReq,
  isNodeReqWsOverHttp,
} from '@fanoutio/grip';
import { isGone } from '../shared/ws-gone.js';

/*
 * Zuul Push's jobs, as a backend behind thumbtack: it authenticates each client when it
 * connects (a WebSocket on /ws, an SSE stream on /events), keeps a registry of which
 * connection each user has (Zuul's PushConnectionRegistry), and pushes to a user through
 * thumbtack's direct push with a receipt, so that it learns at once whether the user was
 * connected: 200 written, 404 not. thumbtack holds every connection and recycles it after
 * its (dithered) lifetime; the client reconnects and the registry follows.
 */

/** Who may connect: `?token=` or `Authorization: Bearer`. */
const users = new Map([
  ['alice-token', 'alice'],
  ['bob-token', 'bob'],
]);

export interface PushBackendOptions {
  /** thumbtack's control API, e.g. `http://127.0.0.1:5561`. */
  controlUrl: string;
  log(line: string): void;
}

/**
 * GET  /events?token=T   (through thumbtack) an SSE stream, held by thumbtack
 * POST /ws?token=T       (through thumbtack, WebSocket-over-HTTP) a WebSocket
 * POST /push/<user>      (this port only) pushes the body to the user: 200 or 404
 */
export function createPushBackend({ controlUrl, log }: PushBackendOptions): http.Server {
  /** user → the id of their connection (the latest one: one per user, as Zuul keeps). */
  const registry = new Map<string, string>();

  const handle = async (req: http.IncomingMessage, res: http.ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? '/', 'http://backend');
    if (url.pathname === '/ws' && isNodeReqWsOverHttp(req)) {
      const ws = await getWebSocketContextFromNodeReq(req);
      if (ws.isOpening()) {
        const user = userOf(req, url);
        // Any answer but 200 to OPEN refuses the WebSocket with that status and body.
        if (!user) return text(res, 401, 'unknown token: connect with ?token=alice-token\n');
        ws.accept();
        ws.meta['user'] = user; // later requests of this connection carry Meta-User
        registry.set(user, ws.id);
        ws.send(JSON.stringify({ type: 'connected', user, connection: ws.id }));
        log(`${user} connected over WebSocket (${ws.id})`);
      }
      if (isGone(ws)) {
        const user = ws.meta['user'] ?? '';
        if (registry.get(user) === ws.id) registry.delete(user);
        log(`${user} disconnected (${ws.id})`);
      }
      res.writeHead(200, ws.toHeaders());
      return void res.end(Buffer.from(encodeWebSocketEvents(ws.getOutgoingEvents())));
    }
    if (req.method === 'GET' && url.pathname === '/events') {
      const user = userOf(req, url);
      if (!user) return text(res, 401, 'unknown token: connect with ?token=alice-token\n');
      // The id thumbtack gave this connection: a direct push addresses it.
      const connection = String(req.headers['connection-id']);
      registry.set(user, connection);
      log(`${user} connected over SSE (${connection})`);
      res.writeHead(200, { 'Content-Type': 'text/event-stream', 'Grip-Hold': 'stream' });
      return void res.end(sse('connected', { user, connection }));
    }
    const push = /^\/push\/([^/]+)$/.exec(url.pathname);
    if (req.method === 'POST' && push) {
      const user = decodeURIComponent(push[1]!);
      const message = await readBody(req);
      const connection = registry.get(user);
      if (connection === undefined) return json(res, 404, { user, connected: false });
      const answer = await pushTo(controlUrl, connection, message);
      // The receipt's 404: the connection is gone (closed, recycled) and its client has not
      // reconnected yet; the registry forgets it.
      if (answer.status === 404 && registry.get(user) === connection) registry.delete(user);
      log(`push to ${user}: ${answer.status}`);
      return json(res, answer.status, {
        user,
        connected: answer.status === 200,
        ...answer.receipt,
      });
    }
    text(res, 404, 'not found: see examples/zuul-push/README.md\n');
  };

  return http.createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      log(`${req.method} ${req.url}: ${(err as Error).message}`);
      if (!res.headersSent) text(res, 500, `${(err as Error).message}\n`);
      else res.end();
    });
  });
}

/**
 * One item to the connection, in both formats a client can take, with `?receipt`: thumbtack
 * answers 200 once it wrote the item to the connection, 404 when no connection has the id.
 */
async function pushTo(
  controlUrl: string,
  connection: string,
  message: string,
): Promise<{ status: number; receipt: Record<string, unknown> }> {
  const res = await fetch(`${controlUrl}/publish/?receipt`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      items: [
        {
          channel: `$connection:${connection}`,
          formats: {
            'http-stream': { content: sse('push', { message }) },
            'ws-message': { content: JSON.stringify({ type: 'push', message }) },
          },
        },
      ],
    }),
  });
  if (res.status !== 200 && res.status !== 404) {
    throw new Error(`publish answered ${res.status}: ${await res.text()}`);
  }
  const body = (await res.json()) as { items: Record<string, unknown>[] };
  return { status: res.status, receipt: body.items[0] ?? {} };
}

function userOf(req: http.IncomingMessage, url: URL): string | undefined {
  const bearer = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
  return users.get(url.searchParams.get('token') ?? bearer ?? '');
}

function sse(event: string, data: unknown): string {
  return `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
}

function readBody(req: http.IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function text(res: http.ServerResponse, status: number, body: string): void {
  res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8' });
  res.end(body);
}

function json(res: http.ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'Content-Type': 'application/json' });
  res.end(`${JSON.stringify(body)}\n`);
}
