import http from 'node:http';

/**
 * The API both thumbtack nodes route to: `GET /<channel>` is a Server-Sent Events stream
 * held on that channel (a comment every 20 s keeps idle connections open); anything else
 * is a 404 saying what to try.
 */
export function createSseBackend(): http.Server {
  return http.createServer((req, res) => {
    const channel = decodeURIComponent(new URL(req.url ?? '/', 'http://backend').pathname.slice(1));
    if (req.method !== 'GET' || !/^[\w.-]+$/.test(channel)) {
      res.writeHead(404, { 'Content-Type': 'text/plain' });
      res.end('try GET /news (any channel name made of letters, digits, _ . -)\n');
      return;
    }
    res.writeHead(200, {
      'Content-Type': 'text/event-stream',
      'Grip-Hold': 'stream',
      'Grip-Channel': channel,
      'Grip-Keep-Alive': ':\\n\\n; format=cstring; timeout=20',
    });
    res.end(`: listening on channel ${channel}\n\n`);
  });
}
