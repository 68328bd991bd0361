import http from 'node:http';
import { Readable } from 'node:stream';
import {
  encodeWebSocketEvents,
  getWebSocketContextFromNodeReq,
  isNodeReqWsOverHttp,
  validateSig,
} from '@fanoutio/grip';
import { WebSocketServer } from 'ws';

export interface BackendOptions {
  /** Control API base URLs of every thumbtack in front (`http://127.0.0.1:5561`). */
  publishTo: string[];
  /** The Grip-Sig key and issuer thumbtack signs with (its --sig-key, --sig-iss). */
  sigKey: string;
  sigIss: string;
}

/** The WebSocket-over-HTTP sockets join this channel; messages published to it reach them. */
const chatChannel = 'chat';

/**
 * The application behind the gateway and thumbtack:
 *   GET  /api/hello            JSON: who called (X-Consumer, from the gateway), whether via thumbtack
 *   GET  /api/events/CHANNEL   an SSE stream held by thumbtack on CHANNEL
 *   POST /api/messages/CHANNEL publishes the body to CHANNEL through every thumbtack
 *   WS   /api/ws/echo          a plain WebSocket echo (thumbtack passes it through)
 *   POST /api/ws/chat          WebSocket-over-HTTP (a thumbtack `over_http` route): echoes
 *                              and joins the socket to the "chat" channel
 * Requests thumbtack made carry a Grip-Sig JWT; the hold endpoints need it, since only a
 * GRIP proxy can hold a connection.
 */
export function createBackend(options: BackendOptions): http.Server {
  const isViaThumbtack = async (req: http.IncomingMessage): Promise<boolean> => {
    const sig = req.headers['grip-sig'];
    return typeof sig === 'string' && (await validateSig(sig, options.sigKey, options.sigIss));
  };

  const handle = async (req: http.IncomingMessage, res: http.ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? '/', 'http://backend');
    const consumer = req.headers['x-consumer'] ?? null;
    const viaThumbtack = await isViaThumbtack(req);
    const channel = /^\/api\/(?:events|messages)\/([\w.-]+)$/.exec(url.pathname)?.[1];

    if (req.method === 'GET' && url.pathname === '/api/hello') {
      return json(res, 200, { message: 'hello from the backend', consumer, viaThumbtack });
    }
    if (req.method === 'GET' && url.pathname.startsWith('/api/events/') && channel) {
      if (!viaThumbtack) return json(res, 400, { error: 'streams need a GRIP proxy in front' });
      res.writeHead(200, {
        'Content-Type': 'text/event-stream',
        'Grip-Hold': 'stream',
        'Grip-Channel': channel,
        'Grip-Keep-Alive': ':\\n\\n; format=cstring; timeout=20',
      });
      return void res.end(`: subscribed to ${channel}\n\n`);
    }
    if (req.method === 'POST' && url.pathname.startsWith('/api/messages/') && channel) {
      const text = (await readBody(req)).toString('utf8').trim();
      await publish(options.publishTo, channel, text);
      return json(res, 200, { published: text, channel });
    }
    if (req.method === 'POST' && url.pathname === '/api/ws/chat' && isNodeReqWsOverHttp(req)) {
      return answerChat(req, res);
    }
    json(res, 404, { error: `no ${req.method} ${url.pathname} here` });
  };

  const server = http.createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (!res.headersSent) json(res, 500, { error: String(err) });
      else res.destroy();
    });
  });
  const echo = new WebSocketServer({ noServer: true });
  echo.on('connection', (socket) => {
    socket.on('error', () => socket.terminate());
    socket.on('message', (data, isBinary) =>
      socket.send(isBinary ? data : `echo: ${String(data)}`),
    );
  });
  server.on('upgrade', (req, socket, head) => {
    if (req.url !== '/api/ws/echo') return socket.end('HTTP/1.1 404 Not Found\r\n\r\n');
    echo.handleUpgrade(req, socket, head, (ws) => echo.emit('connection', ws, req));
  });
  server.on('close', () => echo.close());
  return server;
}

/** One WebSocket-over-HTTP request: accept and subscribe on open, echo each text message. */
async function answerChat(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
  // js-grip reads the events from the request as a stream of its own.
  const body = Object.assign(Readable.from([await readBody(req)]), { headers: req.headers });
  const ws = await getWebSocketContextFromNodeReq(body as unknown as http.IncomingMessage);
  if (ws.isOpening()) {
    ws.accept();
    ws.subscribe(chatChannel);
  }
  while (ws.canRecv()) {
    const message = ws.recv();
    if (message === null) break; // the client closed; js-grip answers the close
    ws.send(`echo: ${message}`);
  }
  res.writeHead(200, ws.toHeaders());
  res.end(Buffer.from(encodeWebSocketEvents(ws.getOutgoingEvents())));
}

/** POST /publish/ to each thumbtack: an SSE event for streams, a message for WebSockets. */
async function publish(controlUrls: string[], channel: string, text: string): Promise<void> {
  const item = {
    channel,
    formats: {
      'http-stream': { content: `data: ${text}\n\n` },
      'ws-message': { content: text },
    },
  };
  await Promise.all(
    controlUrls.map(async (url) => {
      const res = await fetch(`${url}/publish/`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ items: [item] }),
      });
      if (!res.ok) throw new Error(`publish to ${url}: ${res.status} ${await res.text()}`);
    }),
  );
}

function readBody(req: http.IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

function json(res: http.ServerResponse, status: number, body: object): void {
  res.writeHead(status, { 'Content-Type': 'application/json' });
  res.end(`${JSON.stringify(body)}\n`);
}
