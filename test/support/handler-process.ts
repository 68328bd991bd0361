import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { freePort } from './free-port.js';
import { watchLogs, type LogLine } from './log-watcher.js';
import { projectRoot } from './thumbtack.js';

/** The compiled handler entry; `npm test` builds first, otherwise run `npx tsc -p tsconfig.build.json`. */
export const handlerEntry = path.join(projectRoot, 'dist/handler/main.js');

export interface HandlerProcess {
  process: ChildProcess;
  controlPort: number;
  controlUrl: string;
  zmqPull: string;
  zmqSub: string;
  bus: string;
  logs: LogLine[];
  stderr(): string;
  /** Resolves with the first log line (already seen or future) that matches. */
  waitForLog(match: (line: LogLine) => boolean, timeoutMs?: number): Promise<LogLine>;
  /** SIGTERM, then the exit code. */
  stop(): Promise<number | null>;
}

export interface HandlerOptions {
  /** Extra flags, e.g. `['--control-token', 'secret']`. */
  args?: string[];
  /** Use this SUB endpoint (e.g. for `--zmq-sub-connect` to a test XPUB) instead of a free port. */
  zmqSub?: string;
}

/**
 * Starts `node dist/handler/main.js handler` on free 127.0.0.1 ports and waits (bounded)
 * for its `handler ready` log line. A port found free can be taken by another test's
 * process before the handler binds it: a start that fails on an address in use is tried
 * again on other ports (twice at most).
 */
export async function startHandlerProcess(options: HandlerOptions = {}): Promise<HandlerProcess> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await startOnce(options);
    } catch (err) {
      if (attempt === 3 || !/in use/i.test((err as Error).message)) throw err;
    }
  }
}

async function startOnce(options: HandlerOptions): Promise<HandlerProcess> {
  const [controlPort, pullPort, subPort, busPort, statsPort] = await Promise.all([
    freePort(),
    freePort(),
    freePort(),
    freePort(),
    freePort(),
  ]);
  const zmqPull = `tcp://127.0.0.1:${pullPort}`;
  const zmqSub = options.zmqSub ?? `tcp://127.0.0.1:${subPort}`;
  const bus = `tcp://127.0.0.1:${busPort}`;
  const child = spawn(
    process.execPath,
    [
      handlerEntry,
      'handler',
      '--control-port',
      String(controlPort),
      '--zmq-pull',
      zmqPull,
      '--zmq-sub',
      zmqSub,
      '--bus',
      bus,
      '--stats',
      `tcp://127.0.0.1:${statsPort}`,
      // info, not warn: the ready line is an info line.
      '--log-level',
      'info',
      ...(options.args ?? []),
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );

  const { logs, waitForLog, stderr } = watchLogs(child);
  const exited = new Promise<number | null>((resolve) =>
    child.once('exit', (code) => resolve(code)),
  );

  const stop = async (): Promise<number | null> => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    return exited;
  };

  const early = exited.then((code) => {
    // Its reasons are pino lines on stdout; stderr holds only what Node itself printed.
    const errors = logs
      .filter((l) => l.level === 'error' || l.level === 'fatal')
      .map((l) => JSON.stringify(l));
    throw new Error(
      `handler exited with ${code} during start-up: ${[...errors, stderr()].join('\n')}`,
    );
  });
  try {
    await Promise.race([waitForLog((l) => l.msg === 'handler ready'), early]);
  } catch (err) {
    await stop();
    throw err;
  }
  early.catch(() => undefined);

  return {
    process: child,
    controlPort,
    controlUrl: `http://127.0.0.1:${controlPort}`,
    zmqPull,
    zmqSub,
    bus,
    logs,
    stderr,
    waitForLog,
    stop,
  };
}

/** Runs the handler with `args` until it exits by itself (start-up failures). */
export function runHandlerToExit(
  args: string[],
  timeoutMs = 10_000,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [handlerEntry, ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`handler did not exit within ${timeoutMs} ms`));
    }, timeoutMs);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}
