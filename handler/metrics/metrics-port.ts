import type { AddressInfo } from 'node:net';
import type { ControlAuth } from '../control-auth.js';
import type { ControlPage } from '../inputs/http.js';
import { createControlServer, type ControlTls } from '../control-tls.js';

/**
 * `--metrics-port`: GET /metrics on a port of its own (for clusters that scrape a
 * dedicated port), with the control API's auth; anything else there is a 404.
 */
export async function startMetricsPort(options: {
  host: string;
  port: number;
  auth?: ControlAuth;
  tls?: ControlTls;
  metrics: () => Promise<ControlPage>;
}): Promise<{ address: string; close(): Promise<void> }> {
  const server = createControlServer(options.tls, {}, (req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    const answer = (status: number, body: string | Buffer, type: string, extra = {}): void => {
      res.writeHead(status, {
        'Content-Type': type,
        'Content-Length': Buffer.byteLength(body),
        ...extra,
      });
      res.end(body);
    };
    if (path !== '/metrics' || (req.method !== 'GET' && req.method !== 'HEAD')) {
      answer(404, 'Not Found: this port serves GET /metrics\n', 'text/plain');
      return;
    }
    void (async () => {
      const problem = await options.auth?.check(req.headers['authorization']);
      if (problem !== undefined) {
        answer(401, problem + '\n', 'text/plain', { 'WWW-Authenticate': 'Bearer' });
        return;
      }
      const page = await options.metrics();
      answer(200, page.body, page.contentType);
    })().catch(() => {
      if (!res.headersSent) answer(500, 'Internal error.\n', 'text/plain');
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err) =>
      reject(
        new Error(
          `--metrics-port: cannot listen on ${options.host}:${options.port} (${err.message})`,
        ),
      ),
    );
    server.listen(options.port, options.host, () => resolve());
  });
  const { address, port } = server.address() as AddressInfo;
  return {
    address: `${options.tls ? 'https' : 'http'}://${address.includes(':') ? `[${address}]` : address}:${port}`,
    close: () =>
      new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
