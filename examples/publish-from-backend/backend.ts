import http from 'node:http';
import {
  encodeWebSocketEvents,
  getWebSocketContextFromNodeReq,
  isNodeReqWsOverHttp,
} from '@fanoutio/grip';

/** The channel every client here listens on and every publish in the README names. */
export const CHANNEL = 'news';

/**
 * A backend that holds one client of each kind on the channel "news" and prints what it
 * answered, so you can see a client is held before you publish:
 *   GET /sse   Server-Sent Events (a stream hold)
 *   GET /poll  long-poll (a response hold; "no news" after 60 s)
 *   /ws        WebSocket: thumbtack carries it as WebSocket-over-HTTP (the route's
 *              `over_http`); on OPEN the backend accepts it and subscribes it to "news"
 *              with a GRIP control message, through @fanoutio/grip's WebSocketContext
 */
export function createBackend(): http.Server {
  return http.createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://backend').pathname;
    if (isNodeReqWsOverHttp(req)) {
      void answerWebSocketEvents(req, res);
      return;
    }
    if (path === '/sse') {
      res.writeHead(200, {
        'Content-Type': 'text/event-stream',
        'Grip-Hold': 'stream',
        'Grip-Channel': CHANNEL,
      });
      res.end(`: listening on "${CHANNEL}"\n\n`);
      console.log(`backend: GET /sse held as an SSE stream on "${CHANNEL}"`);
      return;
    }
    if (path === '/poll') {
      res.writeHead(200, {
        'Content-Type': 'text/plain',
        'Grip-Hold': 'response',
        'Grip-Channel': CHANNEL,
        'Grip-Timeout': '60',
      });
      res.end('no news\n');
      console.log(`backend: GET /poll held as a long-poll on "${CHANNEL}"`);
      return;
    }
    res.writeHead(404, { 'Content-Type': 'text/plain' });
    res.end('Try /sse, /poll or a WebSocket on /ws.\n');
  });
}

/** One WebSocket-over-HTTP request: thumbtack's report of what a client did. */
async function answerWebSocketEvents(
  req: http.IncomingMessage,
  res: http.ServerResponse,
): Promise<void> {
  try {
    const ws = await getWebSocketContextFromNodeReq(req);
    if (ws.isOpening()) {
      ws.accept();
      ws.subscribe(CHANNEL); // sends c:{"channel":"news","type":"subscribe"} to thumbtack
      console.log(`backend: WebSocket ${ws.id} opened and subscribed to "${CHANNEL}"`);
    }
    // Client messages are ignored; reading through them finds a client's close, to answer.
    while (ws.canRecv()) if (ws.recv() === null) break;
    if (ws.closeCode !== null) ws.close(ws.closeCode);
    res.writeHead(200, ws.toHeaders());
    res.end(Buffer.from(encodeWebSocketEvents(ws.getOutgoingEvents())));
  } catch (err) {
    res.writeHead(400, { 'Content-Type': 'text/plain' });
    res.end(`${(err as Error).message}\n`);
  }
}
