import http from 'node:http';
import {
  encodeWebSocketEvents,
  getWebSocketContextFromNodeReq,
  isNodeReqWsOverHttp,
  validateSig,
  type WebSocketContext,
} from '@fanoutio/grip';
import { findUserByToken, mayRead, userChannel, users } from './access.js';
import { createFeedPublisher } from './feed-publisher.js';

export interface FeedBackendOptions {
  /** thumbtack's control API, `http://127.0.0.1:5561`. */
  controlUrl: string;
  /** The Grip-Sig key and issuer thumbtack signs its requests with (--sig-key, --sig-iss). */
  sigKey: string;
  sigIss: string;
}

/** The close a revoked user's sockets get. */
export const revokedClose = { code: 4001, reason: 'revoked' };

/**
 * The feed's backend. thumbtack holds the WebSockets; this server only answers short
 * requests:
 *   POST /feed                   WebSocket-over-HTTP from thumbtack (the route's over_http):
 *                                OPEN checks the token, later requests carry the client's
 *                                subscribe/unsubscribe messages, answered with GRIP
 *                                control messages or an error message
 *   POST /admin/publish?channel= publishes the body as the channel's next numbered event
 *   POST /admin/revoke?user=     closes every socket of the user (4001 "revoked") and
 *                                refuses the user from then on
 * The admin paths are not routed through thumbtack; only the backend's own port has them.
 */
export function createFeedBackend(options: FeedBackendOptions): http.Server {
  const publisher = createFeedPublisher(options.controlUrl);
  const revoked = new Set<string>();

  const handle = async (req: http.IncomingMessage, res: http.ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? '/', 'http://backend');
    if (url.pathname === '/feed' && isNodeReqWsOverHttp(req)) {
      // Meta-User is trusted only on a request thumbtack signed: it strips clients' Meta-*.
      const sig = req.headers['grip-sig'];
      if (typeof sig !== 'string' || !(await validateSig(sig, options.sigKey, options.sigIss))) {
        return text(res, 403, 'only thumbtack may call /feed\n');
      }
      const ws = await getWebSocketContextFromNodeReq(req);
      if (ws.isOpening()) {
        const user = findUserByToken(tokenOf(req, url));
        // Any answer but 200 refuses the WebSocket: the client gets it as the upgrade's answer.
        if (!user) return text(res, 401, 'unknown token: connect with ?token=alice-secret\n');
        if (revoked.has(user)) return text(res, 403, `${user} is revoked\n`);
        ws.accept();
        ws.meta['user'] = user; // Set-Meta-User: later requests carry Meta-User
        ws.subscribe(userChannel(user));
        ws.send(JSON.stringify({ type: 'welcome', user, channels: users[user]!.channels }));
        console.log(`backend: ${user} connected (${ws.id})`);
      }
      answerMessages(ws, revoked);
      res.writeHead(200, ws.toHeaders());
      return void res.end(Buffer.from(encodeWebSocketEvents(ws.getOutgoingEvents())));
    }
    if (req.method === 'POST' && url.pathname === '/admin/publish') {
      const channel = url.searchParams.get('channel');
      if (!channel) return text(res, 400, 'name the channel: /admin/publish?channel=orders\n');
      const event = await publisher.publishEvent(channel, (await readBody(req)).trim());
      console.log(`backend: published ${channel} #${event.id}`);
      return json(res, 200, event);
    }
    if (req.method === 'POST' && url.pathname === '/admin/revoke') {
      const user = url.searchParams.get('user');
      if (!user || !users[user]) return text(res, 400, 'name a user: /admin/revoke?user=alice\n');
      revoked.add(user);
      await publisher.publishClose(userChannel(user), revokedClose.code, revokedClose.reason);
      console.log(`backend: revoked ${user}; closed their sockets`);
      return json(res, 200, { revoked: user });
    }
    text(res, 404, 'not found: see examples/resume/README.md\n');
  };

  return http.createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      console.error(`backend: ${req.method} ${req.url}: ${(err as Error).message}`);
      if (!res.headersSent) text(res, 500, `${(err as Error).message}\n`);
      else res.end();
    });
  });
}

/**
 * Reads the client's messages in this request and answers each one: a subscribe the user
 * may make becomes a GRIP control message for thumbtack (with `prev-id` when the client
 * says where it left off); anything else gets an error message on the socket.
 */
function answerMessages(ws: WebSocketContext, revoked: ReadonlySet<string>): void {
  const user = ws.meta['user'] ?? '';
  for (;;) {
    let message: string | null;
    try {
      if (!ws.canRecv()) break;
      message = ws.recv();
    } catch {
      return; // DISCONNECT: the client is gone, there is nothing to answer
    }
    if (message === null) {
      ws.close(ws.closeCode ?? 1000); // the client closed: answer its close
      return;
    }
    if (revoked.has(user)) {
      ws.close(revokedClose.code);
      return;
    }
    const request = parseRequest(message);
    if (typeof request === 'string') {
      ws.send(JSON.stringify({ type: 'error', error: 'bad-request', message: request }));
      continue;
    }
    const { type, channel } = request;
    if (!mayRead(user, channel)) {
      const refusal = `${user} may not read "${channel}"`;
      ws.send(JSON.stringify({ type: 'error', error: 'forbidden', channel, message: refusal }));
      console.log(`backend: refused ${type} to "${channel}" for ${user}`);
      continue;
    }
    const control: Record<string, string> = { type, channel };
    // thumbtack's resume: the socket gets the items after this id from history, then live ones.
    if (type === 'subscribe' && request.lastId !== undefined) control['prev-id'] = request.lastId;
    ws.sendControl(JSON.stringify(control));
    ws.send(JSON.stringify({ type: `${type}d`, channel }));
    const from = control['prev-id'] === undefined ? '' : ` after #${control['prev-id']}`;
    console.log(`backend: ${user} ${type}d ${channel}${from}`);
  }
}

interface FeedRequest {
  type: 'subscribe' | 'unsubscribe';
  channel: string;
  lastId?: string;
}

/** A client message as a request, or what is wrong with it. */
function parseRequest(message: string): FeedRequest | string {
  let value: unknown;
  try {
    value = JSON.parse(message);
  } catch {
    return 'send JSON: {"type":"subscribe","channel":"orders"}';
  }
  const { type, channel, 'last-id': lastId } = (value ?? {}) as Record<string, unknown>;
  if (type !== 'subscribe' && type !== 'unsubscribe') {
    return '"type" must be "subscribe" or "unsubscribe"';
  }
  if (typeof channel !== 'string' || !channel) return '"channel" must be a channel name';
  if (lastId !== undefined && typeof lastId !== 'string') return '"last-id" must be a string';
  return { type, channel, ...(lastId === undefined ? {} : { lastId }) };
}

/** The token from `Authorization: Bearer …` or, for browsers (which cannot set it), `?token=`. */
function tokenOf(req: http.IncomingMessage, url: URL): string | undefined {
  const bearer = /^Bearer (\S+)$/i.exec(req.headers.authorization ?? '')?.[1];
  return bearer ?? url.searchParams.get('token') ?? undefined;
}

async function readBody(req: http.IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

function text(res: http.ServerResponse, status: number, body: string): void {
  res.writeHead(status, { 'Content-Type': 'text/plain' });
  res.end(body);
}

function json(res: http.ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'Content-Type': 'application/json' });
  res.end(`${JSON.stringify(body)}\n`);
}
