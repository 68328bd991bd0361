import http from 'node:http';

/** One plain request and how it ended. */
export interface PlainResult {
  startedAt: number;
  endedAt: number;
  status?: number;
  /** An error code, or `body` when a 200 did not carry the expected body. */
  error?: string;
  /** The response body of a non-200 answer (what the proxy said). */
  body?: string;
}

export interface PlainLoad {
  results: PlainResult[];
  stop(): Promise<PlainResult[]>;
}

function get(url: string, timeoutMs: number): Promise<PlainResult> {
  const startedAt = Date.now();
  return new Promise((resolve) => {
    const done = (outcome: Omit<PlainResult, 'startedAt' | 'endedAt'>): void =>
      resolve({ startedAt, endedAt: Date.now(), ...outcome });
    // A new connection per request, so that every proxy worker gets some (SO_REUSEPORT).
    const req = http.get(url, { agent: false, timeout: timeoutMs });
    req.on('timeout', () => req.destroy(Object.assign(new Error('timeout'), { code: 'TIMEOUT' })));
    req.on('error', (err: NodeJS.ErrnoException) => done({ error: err.code ?? err.message }));
    req.on('response', (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('error', (err: NodeJS.ErrnoException) =>
        done({ status: res.statusCode, error: err.code ?? err.message }),
      );
      res.on('end', () => {
        const status = res.statusCode!;
        if (status !== 200) done({ status, body });
        else done(body === 'plain ok' ? { status } : { status, error: 'body', body });
      });
    });
  });
}

/**
 * `loops` sequential request loops to `url`, each pausing `pauseMs` between requests, until
 * stopped (or `maxRequests` each, a guard against a runaway scenario).
 */
export function startPlainLoad(options: {
  url: string;
  loops: number;
  pauseMs: number;
  maxRequests?: number;
  timeoutMs?: number;
}): PlainLoad {
  const results: PlainResult[] = [];
  let isStopped = false;
  const loop = async (): Promise<void> => {
    for (let i = 0; i < (options.maxRequests ?? 100_000) && !isStopped; i++) {
      results.push(await get(options.url, options.timeoutMs ?? 10_000));
      if (options.pauseMs > 0) await new Promise((r) => setTimeout(r, options.pauseMs));
    }
  };
  const running = Array.from({ length: options.loops }, () => loop());
  return {
    results,
    stop: async () => {
      isStopped = true;
      await Promise.all(running);
      return results;
    },
  };
}

/** A failed plain request in words, for a failure line. */
export function describePlain(r: PlainResult): string {
  return `${r.status ?? r.error}${r.error && r.status ? ` (${r.error})` : ''}`;
}
