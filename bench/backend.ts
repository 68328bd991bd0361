import uws from 'uWebSockets.js';
import type { HttpResponse } from 'uWebSockets.js';
import { decodeBenchWsEvents, encodeBenchWsEvents, type BenchWsEvent } from './ws-events.js';

/**
 * The GRIP backend every proxy under test talks to, one uWS process:
 *   GET /plain/*        200 "hello\n" (the `proxy` workload)
 *   GET /stream/<ch>    a GRIP stream hold on channel <ch>, SSE, with ":ok" as first content
 *   POST /ws/<ch>       WebSocket-over-HTTP: subscribes the connection to <ch> on OPEN and
 *                       echoes every TEXT event back (messages without a prefix)
 *   GET /direct/<i>     a GRIP stream hold on no channel; records the request's Connection-Id
 *                       as connection <i>'s, as an application records its user's (`direct`)
 *   GET /direct-ids     the recorded ids, {"<i>": "<Connection-Id>", ...}
 * Usage: node dist/bench/backend.js PORT   (prints one JSON line when listening)
 */

const port = Number(process.argv[2] ?? 0);
const hello = Buffer.from('hello\n');
const streamStart = Buffer.from(':ok\n\n');
const eventsType = 'application/websocket-events';

function onWsEvents(res: HttpResponse, channel: string, body: Buffer): void {
  let events: BenchWsEvent<string>[];
  try {
    events = decodeBenchWsEvents(body);
  } catch {
    res.cork(() => res.writeStatus('400 Bad Request').end('bad events\n'));
    return;
  }
  const out: BenchWsEvent[] = [];
  for (const event of events) {
    if (event.type === 'OPEN') {
      out.push({ type: 'OPEN' });
      const control = JSON.stringify({ type: 'subscribe', channel });
      out.push({ type: 'TEXT', content: Buffer.from(`c:${control}`) });
    } else if (event.type === 'TEXT') {
      out.push({ type: 'TEXT', content: event.content });
    } else if (event.type === 'CLOSE') {
      // A status-less close may come as `CLOSE 0`; answer it as bare `CLOSE`, as before.
      out.push({ type: 'CLOSE', content: event.content?.length ? event.content : undefined });
    }
  }
  const reply = encodeBenchWsEvents(out);
  res.cork(() => {
    res.writeHeader('Content-Type', eventsType);
    res.writeHeader('Sec-WebSocket-Extensions', 'grip; message-prefix=""');
    res.end(reply);
  });
}

/** Connection index → the Connection-Id of its latest request (a retried connection's new id). */
const directIds = new Map<string, string>();

const app = uws.App();
app.get('/plain/*', (res) => {
  res.end(hello);
});
app.get('/stream/*', (res, req) => {
  const channel = req.getUrl().slice('/stream/'.length);
  res.writeHeader('Content-Type', 'text/event-stream');
  res.writeHeader('Grip-Hold', 'stream');
  res.writeHeader('Grip-Channel', channel);
  res.end(streamStart);
});
app.get('/direct/*', (res, req) => {
  directIds.set(req.getUrl().slice('/direct/'.length), req.getHeader('connection-id'));
  res.writeHeader('Content-Type', 'text/event-stream');
  res.writeHeader('Grip-Hold', 'stream');
  res.end(streamStart);
});
app.get('/direct-ids', (res) => {
  res.writeHeader('Content-Type', 'application/json');
  res.end(JSON.stringify(Object.fromEntries(directIds)));
});
app.post('/ws/*', (res, req) => {
  const channel = req.getUrl().slice('/ws/'.length);
  const chunks: Buffer[] = [];
  let isAborted = false;
  res.onAborted(() => {
    isAborted = true;
  });
  res.onData((chunk, isLast) => {
    chunks.push(Buffer.from(chunk.slice(0)));
    if (isLast && !isAborted) onWsEvents(res, channel, Buffer.concat(chunks));
  });
});
app.any('/*', (res) => {
  res.writeStatus('404 Not Found').end('not found\n');
});
app.listen('127.0.0.1', port, (socket) => {
  if (!socket) {
    process.stderr.write(`backend: cannot listen on 127.0.0.1:${port}\n`);
    process.exit(1);
  }
  const bound = uws.us_socket_local_port(socket);
  process.stdout.write(
    JSON.stringify({ msg: 'backend ready', port: bound, pid: process.pid }) + '\n',
  );
});
process.on('SIGTERM', () => process.exit(0));
