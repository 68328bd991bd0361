import http from 'node:http';
import { WebSocketServer } from 'ws';

export interface GripWsBackend {
  /** `127.0.0.1:port`, as a routes file target. */
  target: string;
  close(): Promise<void>;
}

/**
 * A backend for tests that hold every kind of client on one channel: `/sse` answers an
 * SSE stream hold, `/stream` a plain stream hold, `/poll` a long-poll (120 s), anything
 * else `plain <Host>`; WebSockets (passthrough) answer each message with `echo <message>`.
 */
export async function startGripWsBackend(channel: string): Promise<GripWsBackend> {
  const server = http.createServer((req, res) => {
    const hold = (type: string, body: string): void => {
      res.writeHead(200, { 'Content-Type': type, 'Grip-Hold': 'stream', 'Grip-Channel': channel });
      res.end(body);
    };
    if (req.url!.startsWith('/sse')) hold('text/event-stream', ':open\n\n');
    else if (req.url!.startsWith('/stream')) hold('text/plain', 'open\n');
    else if (req.url!.startsWith('/poll')) {
      res.writeHead(200, {
        'Grip-Hold': 'response',
        'Grip-Channel': channel,
        'Grip-Timeout': '120',
      });
      res.end('timeout\n');
    } else res.end(`plain ${req.headers['host']}\n`);
  });
  const wss = new WebSocketServer({ server });
  wss.on('connection', (socket) => {
    socket.on('error', () => undefined);
    socket.on('message', (data) => socket.send(`echo ${String(data)}`));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    target: `127.0.0.1:${(server.address() as { port: number }).port}`,
    close: () =>
      new Promise<void>((resolve) => {
        for (const client of wss.clients) client.terminate();
        wss.close();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
