import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { freePorts } from '../free-port.js';
import { stopTree } from '../process-tree.js';
import { spawnLogged, waitForLog } from './sut.js';

export interface RedisServer {
  url: string;
  pid: number;
  logFile: string;
  stop(): Promise<void>;
}

/** redis-server's version line when it is on PATH, else undefined. */
export function redisServerVersion(): string | undefined {
  try {
    return execFileSync('redis-server', ['--version'], {
      encoding: 'utf8',
      timeout: 5_000,
    }).trim();
  } catch {
    return undefined;
  }
}

/** A private redis-server on a free loopback port, persisting nothing, its log in `workDir`. */
export async function startRedis(workDir: string): Promise<RedisServer> {
  const [port] = await freePorts(1);
  const logFile = path.join(workDir, 'redis.log');
  const pid = spawnLogged(
    'redis-server',
    [
      ...['--port', String(port), '--bind', '127.0.0.1', '--dir', workDir],
      ...['--save', '', '--appendonly', 'no'],
    ],
    logFile,
  );
  await waitForLog(logFile, (text) => text.includes('Ready to accept connections'), 15_000, pid);
  return {
    url: `redis://127.0.0.1:${port}`,
    pid,
    logFile,
    // Nothing to persist: a short grace, then SIGKILL.
    stop: () => stopTree(pid, 2_000),
  };
}
