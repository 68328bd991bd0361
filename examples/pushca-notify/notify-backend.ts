import http from 'node:http';
import {
  encodeWebSocketEvents,
  getWebSocketContextFromNodeReq,
  isNodeReqWsOverHttp,
} from '@fanoutio/grip';
import { isGone } from '../shared/ws-gone.js';

/*
 * Pushca's notification API, as a backend behind thumbtack. A client registers with
 * Pushca's four dimensions; each becomes a channel its WebSocket is subscribed to
 * (`workspace:<w>`, `account:<a>`, `device:<d>`, `application:<app>`), with GRIP's
 * skip-users filter and the client's key as its user, so that a notification can exclude
 * clients. thumbtack holds the sockets; this backend answers short requests.
 */

export const dimensions = ['workspace', 'account', 'device', 'application'] as const;
export type Dimension = (typeof dimensions)[number];

export interface NotifyBackendOptions {
  /** thumbtack's control API, e.g. `http://127.0.0.1:5561`. */
  controlUrl: string;
  log(line: string): void;
}

/** `POST /send-notification`: to every client of one dimension's value, or to one of them. */
interface Notification {
  filter: Partial<Record<Dimension, string>>;
  message: string;
  /** Client keys (`workspace/account/device/application`) not to deliver to. */
  exclude?: string[];
  /** Deliver to one matching client only, a different one each time (Pushca's findAny). */
  findAny?: boolean;
}

/** `POST /send-notification-with-acknowledge`: to one client, waiting for its ack. */
interface AcknowledgedNotification {
  client: string;
  message: string;
  /** Seconds to wait for the client's ack (default 5). */
  timeout?: number;
}

/**
 * POST /ws?workspace=&account=&device=&application=   (through thumbtack) the client's
 *                                                      WebSocket, as WebSocket-over-HTTP
 * POST /send-notification                  (this port only) see Notification
 * POST /send-notification-with-acknowledge (this port only) see AcknowledgedNotification
 */
export function createNotifyBackend({ controlUrl, log }: NotifyBackendOptions): http.Server {
  /** Client key → its connection id, for acknowledged pushes. */
  const registry = new Map<string, string>();
  let lastId = 0;

  const publish = async (query: string, item: object): Promise<Answer> => {
    const res = await fetch(`${controlUrl}/publish/${query}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ items: [item] }),
    });
    const text = await res.text();
    if (res.status === 400 || res.status >= 500)
      throw new Error(`publish answered ${res.status}: ${text}`);
    return { status: res.status, body: text };
  };

  const handle = async (req: http.IncomingMessage, res: http.ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? '/', 'http://backend');
    if (url.pathname === '/ws' && isNodeReqWsOverHttp(req)) {
      const ws = await getWebSocketContextFromNodeReq(req);
      if (ws.isOpening()) {
        const missing = dimensions.filter((name) => !url.searchParams.get(name));
        if (missing.length > 0) {
          return send(res, 400, `register with ?${missing.map((name) => `${name}=`).join('&')}\n`);
        }
        const key = dimensions.map((name) => url.searchParams.get(name)).join('/');
        if (key.includes(',')) return send(res, 400, 'no commas in the dimensions\n');
        ws.accept();
        ws.meta['client'] = key; // later requests of this connection carry Meta-Client
        // The key is the subscriptions' user, which an item's skip_users names to exclude it.
        ws.sendControl(JSON.stringify({ type: 'set-meta', name: 'user', value: key }));
        for (const name of dimensions) {
          const channel = `${name}:${url.searchParams.get(name)}`;
          ws.sendControl(JSON.stringify({ type: 'subscribe', channel, filters: ['skip-users'] }));
        }
        ws.send(JSON.stringify({ type: 'registered', client: key, connection: ws.id }));
        registry.set(key, ws.id);
        log(`registered ${key} (${ws.id})`);
      }
      if (isGone(ws)) {
        const key = ws.meta['client'] ?? '';
        if (registry.get(key) === ws.id) registry.delete(key);
        log(`${key} left (${ws.id})`);
      }
      res.writeHead(200, ws.toHeaders());
      return void res.end(Buffer.from(encodeWebSocketEvents(ws.getOutgoingEvents())));
    }
    if (req.method === 'POST' && url.pathname === '/send-notification') {
      const notification = await readJson<Notification>(req, res);
      if (!notification) return;
      const given = dimensions.filter((name) => notification.filter?.[name] !== undefined);
      if (given.length !== 1) {
        return send(res, 400, `filter: name one of ${dimensions.join(', ')}\n`);
      }
      const channel = `${given[0]}:${notification.filter[given[0]!]}`;
      const item = {
        channel,
        formats: { 'ws-message': { content: notificationText(notification.message) } },
        ...(notification.exclude?.length
          ? { meta: { skip_users: notification.exclude.join(',') } }
          : {}),
      };
      const answer = await publish(notification.findAny ? '?one&receipt' : '?receipt', item);
      log(`notification to ${channel}: ${answer.status}`);
      return send(res, answer.status, answer.body, 'application/json');
    }
    if (req.method === 'POST' && url.pathname === '/send-notification-with-acknowledge') {
      const notification = await readJson<AcknowledgedNotification>(req, res);
      if (!notification) return;
      const connection = registry.get(notification.client);
      if (connection === undefined) {
        const body = JSON.stringify({ client: notification.client, connected: false });
        return send(res, 404, body, 'application/json');
      }
      const id = `n-${++lastId}`;
      const answer = await publish(`?ack=${notification.timeout ?? 5}`, {
        channel: `$connection:${connection}`,
        id,
        formats: { 'ws-message': { content: notificationText(notification.message, id) } },
      });
      log(`acknowledged notification ${id} to ${notification.client}: ${answer.status}`);
      return send(res, answer.status, answer.body, 'application/json');
    }
    send(res, 404, 'not found: see examples/pushca-notify/README.md\n');
  };

  return http.createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      log(`${req.method} ${req.url}: ${(err as Error).message}`);
      if (!res.headersSent) send(res, 500, `${(err as Error).message}\n`);
      else res.end();
    });
  });
}

interface Answer {
  status: number;
  body: string;
}

/** What the client reads; `id`, when there is one, is what it names in its ack. */
function notificationText(message: string, id?: string): string {
  return JSON.stringify({ type: 'notification', ...(id ? { id } : {}), message });
}

/** The request's JSON body; undefined once it has answered 400 for a body that is not JSON. */
async function readJson<T>(
  req: http.IncomingMessage,
  res: http.ServerResponse,
): Promise<T | undefined> {
  try {
    return JSON.parse(await readBody(req)) as T;
  } catch {
    send(res, 400, 'the body must be JSON: see examples/pushca-notify/README.md\n');
    return undefined;
  }
}

function readBody(req: http.IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function send(res: http.ServerResponse, status: number, body: string, type = 'text/plain'): void {
  res.writeHead(status, { 'Content-Type': `${type}; charset=utf-8` });
  res.end(body);
}
