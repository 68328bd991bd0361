import http from 'node:http';
import { WebSocketServer } from 'ws';
import {
  decodeBenchWsEvents,
  encodeBenchWsEvents,
  type BenchWsEvent,
} from '../../bench/ws-events.js';

/**
 * The soak's GRIP backend, one process (node:http and ws: a passthrough WebSocket needs the
 * `grip` extension in its handshake, which uWS cannot write). Every path ends in a channel:
 *   GET /sse/<ch>       SSE stream hold
 *   GET /stream/<ch>    plain HTTP stream hold
 *   GET /poll/<ch>?prev=N  long-poll holding from position N (`prev-id=N`); asked again with
 *                       Grip-Last (history no longer reaches N), it answers `gap <last-id>`
 *   POST /ws/<ch>       WebSocket-over-HTTP: OPEN is answered with a subscribe and `ready`
 *   WS /wsp/<ch>        passthrough WebSocket: a subscribe control message, then `ready`
 *   GET /plain/*        200 (readiness)
 * `ready` follows the subscribe, so an item published after a client saw it is due to it.
 * Usage: node dist/test/soak/backend.js PORT   (prints one JSON line when listening)
 */

const port = Number(process.argv[2] ?? 0);
const pollTimeoutS = 20;

function channelOf(url: string, prefix: string): string {
  const end = url.indexOf('?');
  return url.slice(prefix.length, end === -1 ? undefined : end);
}

function subscribe(channel: string): string {
  return `c:${JSON.stringify({ type: 'subscribe', channel })}`;
}

function hold(res: http.ServerResponse, type: string, channel: string, body: string): void {
  res.writeHead(200, { 'Content-Type': type, 'Grip-Hold': 'stream', 'Grip-Channel': channel });
  res.end(body);
}

function poll(req: http.IncomingMessage, res: http.ServerResponse): void {
  const url = req.url!;
  const channel = channelOf(url, '/poll/');
  const gripLast = req.headers['grip-last'];
  if (gripLast !== undefined) {
    const lastId = /last-id=([^;,\s]*)/.exec(String(gripLast))?.[1] ?? '0';
    res.writeHead(200, { 'Content-Type': 'text/plain' });
    res.end(`gap ${lastId}\n`);
    return;
  }
  const prev = new URL(url, 'http://backend').searchParams.get('prev');
  res.writeHead(200, {
    'Content-Type': 'text/plain',
    'Grip-Hold': 'response',
    'Grip-Channel': prev ? `${channel}; prev-id=${prev}` : channel,
    'Grip-Timeout': String(pollTimeoutS),
  });
  res.end('timeout\n');
}

function wsOverHttp(req: http.IncomingMessage, res: http.ServerResponse): void {
  const channel = channelOf(req.url!, '/ws/');
  const chunks: Buffer[] = [];
  req.on('data', (chunk: Buffer) => chunks.push(chunk));
  req.on('end', () => {
    let events: BenchWsEvent<string>[];
    try {
      events = decodeBenchWsEvents(Buffer.concat(chunks));
    } catch {
      res.writeHead(400).end('bad events\n');
      return;
    }
    const out: BenchWsEvent[] = [];
    for (const event of events) {
      if (event.type === 'OPEN') {
        out.push({ type: 'OPEN' });
        out.push({ type: 'TEXT', content: Buffer.from(subscribe(channel)) });
        out.push({ type: 'TEXT', content: Buffer.from('ready') });
      } else if (event.type === 'CLOSE') {
        out.push({ type: 'CLOSE', content: event.content?.length ? event.content : undefined });
      }
    }
    res.writeHead(200, {
      'Content-Type': 'application/websocket-events',
      'Sec-WebSocket-Extensions': 'grip; message-prefix=""',
    });
    res.end(encodeBenchWsEvents(out));
  });
}

const server = http.createServer((req, res) => {
  const url = req.url ?? '/';
  if (url.startsWith('/sse/')) hold(res, 'text/event-stream', channelOf(url, '/sse/'), ':ok\n\n');
  else if (url.startsWith('/stream/'))
    hold(res, 'text/plain', channelOf(url, '/stream/'), 'open\n');
  else if (url.startsWith('/poll/')) poll(req, res);
  else if (url.startsWith('/ws/') && req.method === 'POST') wsOverHttp(req, res);
  else if (url.startsWith('/plain/')) res.end('hello\n');
  else res.writeHead(404).end('not found\n');
});
server.keepAliveTimeout = 60_000;

const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false });
wss.on('headers', (headers) => headers.push('Sec-WebSocket-Extensions: grip; message-prefix=""'));
server.on('upgrade', (req: http.IncomingMessage, socket, head) => {
  if (!req.url?.startsWith('/wsp/')) {
    socket.end('HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n');
    return;
  }
  const channel = channelOf(req.url, '/wsp/');
  wss.handleUpgrade(req, socket, head, (ws) => {
    ws.on('error', () => undefined);
    ws.send(subscribe(channel));
    ws.send('ready');
  });
});

server.listen(port, '127.0.0.1', () => {
  const bound = (server.address() as { port: number }).port;
  process.stdout.write(
    JSON.stringify({ msg: 'backend ready', port: bound, pid: process.pid }) + '\n',
  );
});
process.on('SIGTERM', () => process.exit(0));
