import { spawn } from 'node:child_process';
import fs from 'node:fs';
import { sleep, stopTree } from '../process-tree.js';

export const sutNames = ['thumbtack', 'pushpin', 'ref'] as const;
export type SutName = (typeof sutNames)[number];

/** A system under test, started on loopback ports of its own. */
export interface Sut {
  readonly name: SutName | 'backend';
  readonly clientPort: number;
  /** POST target for Pushpin-format publishes. */
  readonly publishUrl: string;
  /** Where the system's ZeroMQ SUB publish input is bound (publishers connect). */
  readonly zmqSub: string;
  /** Every process of the system now (for RSS, CPU and profiles). */
  processes(): number[];
  /** How it was run, for the results (workers, settings that matter). */
  readonly description: string;
  readonly logFile: string;
  /** Every log the system writes (Pushpin has one per service). */
  readonly logFiles: string[];
  stop(): Promise<void>;
}

export interface SutOptions {
  backendPort: number;
  /** Worker processes, for the systems that have them (thumbtack, ref). */
  workers: number;
  /** Private directory for config, logs and runtime files. */
  workDir: string;
  /** Write V8 CPU profiles of every process into this directory (thumbtack only). */
  profileDir?: string;
}

/** Grace period between SIGTERM and SIGKILL when a system is stopped. */
export const stopGraceMs = 15_000;

/** Starts a command with stdout and stderr going to `logFile`; returns its PID. */
export function spawnLogged(
  command: string,
  args: string[],
  logFile: string,
  env: NodeJS.ProcessEnv = process.env,
  cwd?: string,
): number {
  const fd = fs.openSync(logFile, 'a');
  try {
    const child = spawn(command, args, { stdio: ['ignore', fd, fd], env, cwd });
    child.on('error', (err) => fs.appendFileSync(logFile, `spawn failed: ${err.message}\n`));
    child.unref();
    if (child.pid === undefined) throw new Error(`cannot start ${command}`);
    return child.pid;
  } finally {
    fs.closeSync(fd);
  }
}

/** Waits (bounded) until `isReady(log text)` holds; throws with the log's tail otherwise. */
export async function waitForLog(
  logFile: string,
  isReady: (text: string) => boolean,
  timeoutMs: number,
  pid: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const text = fs.existsSync(logFile) ? fs.readFileSync(logFile, 'utf8') : '';
    if (isReady(text)) return;
    let isAlive = true;
    try {
      process.kill(pid, 0);
    } catch {
      isAlive = false;
    }
    if (!isAlive || Date.now() > deadline) {
      await stopTree(pid, 2_000);
      throw new Error(`${isAlive ? 'not ready in time' : 'exited'}; log tail:\n${tail(text, 15)}`);
    }
    await sleep(100);
  }
}

/** Sends GET until it answers 200, bounded: the whole path client → proxy → backend works. */
export async function waitForHttp(port: number, path: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    try {
      const res = await fetch(`http://127.0.0.1:${port}${path}`, {
        signal: AbortSignal.timeout(2_000),
      });
      await res.arrayBuffer();
      if (res.status === 200) return;
      last = `status ${res.status}`;
    } catch (err) {
      last = (err as Error).message;
    }
    await sleep(200);
  }
  throw new Error(`GET ${path} on port ${port} did not answer 200 in ${timeoutMs} ms (${last})`);
}

export function tail(text: string, lines: number): string {
  return text.trimEnd().split('\n').slice(-lines).join('\n');
}
