import uws from 'uWebSockets.js';
import type { us_listen_socket } from 'uWebSockets.js';

/*
 * `--health-port`: GET /healthz and /readyz for a proxy worker, for supervisors that probe
 * each process (Kubernetes running `thumbtack proxy`). Every worker of a runner listens on
 * the same port, as on the client port, and answers for itself; so does GET /metrics
 * (unless --no-metrics), which is meant for a worker run alone: under the runner, the
 * control port's /metrics shows every worker.
 */

export interface HealthProbe {
  close(): void;
}

/** `problems` says what keeps the worker from serving; empty when it is ready. */
export function startHealthProbe(
  host: string,
  port: number,
  problems: () => string[],
  metrics?: () => Promise<{ text: string; contentType: string }>,
): Promise<HealthProbe> {
  const app = uws.App();
  if (metrics) {
    app.get('/metrics', (res) => {
      let isAborted = false;
      res.onAborted(() => (isAborted = true));
      void metrics().then(({ text, contentType }) => {
        if (isAborted) return;
        res.cork(() => {
          res.writeHeader('Content-Type', contentType);
          res.end(text);
        });
      });
    });
  }
  app.get('/healthz', (res) => {
    res.cork(() => {
      res.writeHeader('Content-Type', 'application/json');
      res.end('{"status":"ok"}\n');
    });
  });
  app.get('/readyz', (res) => {
    const list = problems();
    const body = JSON.stringify(
      list.length === 0 ? { ready: true } : { ready: false, problems: list },
    );
    res.cork(() => {
      res.writeStatus(list.length === 0 ? '200 OK' : '503 Service Unavailable');
      res.writeHeader('Content-Type', 'application/json');
      res.end(body + '\n');
    });
  });
  app.any('/*', (res) => {
    res.cork(() => {
      res.writeStatus('404 Not Found');
      res.writeHeader('Content-Type', 'text/plain');
      res.end(
        `Not Found: this port answers /healthz and /readyz${metrics ? ' and /metrics' : ''}\n`,
      );
    });
  });
  return new Promise((resolve, reject) => {
    app.listen(host, port, (socket: us_listen_socket | false) => {
      if (!socket) {
        reject(new Error(`--health-port: cannot listen on ${host}:${port}`));
        return;
      }
      resolve({ close: () => uws.us_listen_socket_close(socket) });
    });
  });
}
