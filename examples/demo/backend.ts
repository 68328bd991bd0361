import http from 'node:http';

/**
 * A tiny GRIP backend written with plain headers, so the wire protocol is visible:
 *   GET /                  plain text, proxied untouched
 *   GET /stream?channel=c  held stream (SSE-friendly), keep-alive every 20 s
 *   GET /response?channel=c long-poll, times out after 55 s with a "no news" body
 */
export function createDemoBackend(): http.Server {
  return http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://demo');
    const channel = url.searchParams.get('channel') ?? 'test';
    if (url.pathname === '/stream') {
      res.writeHead(200, {
        'Content-Type': 'text/plain',
        'Grip-Hold': 'stream',
        'Grip-Channel': channel,
        'Grip-Keep-Alive': '\\n; format=cstring; timeout=20',
      });
      res.end(`[stream open on channel "${channel}"]\n`);
      return;
    }
    if (url.pathname === '/response') {
      res.writeHead(200, {
        'Content-Type': 'text/plain',
        'Grip-Hold': 'response',
        'Grip-Channel': channel,
      });
      res.end('no news\n');
      return;
    }
    res.writeHead(200, { 'Content-Type': 'text/plain' });
    res.end('Hello from the demo backend. Try /stream or /response.\n');
  });
}
