import { execFile, spawnSync } from 'node:child_process';

/*
 * wrk (Debian package `wrk`) as the load generator of the `proxy` workload when installed:
 * a C event loop spends less of the shared CPU per request than the Node generators, so
 * the system under test gets more of it. Its text report is read here.
 */

export interface WrkLoad {
  responses: number;
  /** Non-2xx/3xx answers (wrk does not break them down by status). */
  badStatuses: number;
  /** Socket errors by kind (connect, read, write, timeout), only those that happened. */
  errors: Record<string, number>;
  elapsedMs: number;
  p50Ms: number;
  p99Ms: number;
}

let isInstalled: boolean | undefined;

export function hasWrk(): boolean {
  isInstalled ??= spawnSync('wrk', ['--version'], { stdio: 'ignore' }).error === undefined;
  return isInstalled;
}

/** `connections` keep-alive connections on `url` for `durationMs`, over `threads` threads. */
export function runWrk(
  url: string,
  connections: number,
  durationMs: number,
  threads = 2,
): Promise<WrkLoad> {
  const args = [
    `-t${Math.min(threads, connections)}`,
    `-c${connections}`,
    `-d${Math.max(1, Math.round(durationMs / 1000))}s`,
    '--latency',
    url,
  ];
  return new Promise((resolve, reject) => {
    execFile('wrk', args, { timeout: durationMs + 30_000 }, (err, stdout) => {
      if (err) reject(new Error(`wrk ${args.join(' ')} failed: ${err.message}`));
      else resolve(parseWrkReport(stdout));
    });
  });
}

/** Reads wrk's `--latency` report. */
export function parseWrkReport(text: string): WrkLoad {
  const requests = /(\d+) requests in ([\d.]+)(us|ms|s|m)/.exec(text);
  if (!requests) throw new Error(`no request count in wrk's report: ${text.slice(0, 200)}`);
  const errors: Record<string, number> = {};
  const socket = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(text);
  if (socket) {
    ['connect', 'read', 'write', 'timeout'].forEach((kind, i) => {
      const n = Number(socket[i + 1]);
      if (n > 0) errors[kind] = n;
    });
  }
  return {
    responses: Number(requests[1]),
    badStatuses: Number(/Non-2xx or 3xx responses: (\d+)/.exec(text)?.[1] ?? 0),
    errors,
    elapsedMs: toMs(Number(requests[2]), requests[3]!),
    p50Ms: percentileMs(text, 50),
    p99Ms: percentileMs(text, 99),
  };
}

function percentileMs(text: string, p: number): number {
  const match = new RegExp(`^\\s*${p}%\\s+([\\d.]+)(us|ms|s|m)\\s*$`, 'm').exec(text);
  if (!match) throw new Error(`no ${p}% latency in wrk's report`);
  return toMs(Number(match[1]), match[2]!);
}

function toMs(value: number, unit: string): number {
  switch (unit) {
    case 'us':
      return value / 1000;
    case 'ms':
      return value;
    case 's':
      return value * 1000;
    default:
      return value * 60_000;
  }
}
