import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import readline from 'node:readline';
import { freePort } from './free-port.js';
import { watchLogs, type LogWatcher } from './log-watcher.js';
import { projectRoot } from './thumbtack.js';

/*
 * Runs an example as its README says (`node dist/examples/NAME/main.js`, which
 * `npm run example -- NAME` runs after a build), on free ports given through the
 * THUMBTACK_* variables thumbtack itself reads, and waits for its `ready:` line.
 */

export interface ExampleProcess extends Pick<LogWatcher, 'logs' | 'waitForLog'> {
  process: ChildProcess;
  /** thumbtack's client address, `http://127.0.0.1:<THUMBTACK_PORT>`. */
  url: string;
  controlPort: number;
  /** Every stdout line so far, thumbtack's JSON lines included. */
  lines: string[];
  /** Resolves with the first stdout line at index `since` or later that matches (bounded). */
  waitForLine(
    match: (line: string) => boolean,
    options?: { since?: number; timeoutMs?: number },
  ): Promise<string>;
  /** SIGTERM, as Ctrl-C would stop it, then the exit code. */
  stop(): Promise<number | null>;
}

export async function startExample(
  name: string,
  env: Record<string, string> = {},
): Promise<ExampleProcess> {
  const [port, controlPort, pullPort, subPort] = await Promise.all([
    freePort(),
    freePort(),
    freePort(),
    freePort(),
  ]);
  const child = spawn(process.execPath, [path.join('dist/examples', name, 'main.js')], {
    cwd: projectRoot,
    stdio: ['ignore', 'pipe', 'pipe'],
    // Its own process group, so a run that goes wrong can end thumbtack with it.
    detached: true,
    env: {
      ...process.env,
      THUMBTACK_PORT: String(port),
      THUMBTACK_CONTROL_PORT: String(controlPort),
      THUMBTACK_ZMQ_PULL: `tcp://127.0.0.1:${pullPort}`,
      THUMBTACK_ZMQ_SUB: `tcp://127.0.0.1:${subPort}`,
      // One worker and a short drain keep the machine free for the other tests.
      THUMBTACK_WORKERS: '1',
      THUMBTACK_DRAIN_TIMEOUT: '1',
      ...env,
    },
  });
  const { logs, waitForLog, stderr } = watchLogs(child);
  const lines: string[] = [];
  const waiters = new Set<() => void>();
  let buffered = '';
  child.stdout!.on('data', (chunk: Buffer) => {
    buffered += chunk.toString();
    const parts = buffered.split('\n');
    buffered = parts.pop()!;
    lines.push(...parts);
    for (const wake of [...waiters]) wake();
  });
  const exited = new Promise<number | null>((resolve) =>
    child.once('exit', (code) => {
      resolve(code);
      for (const wake of [...waiters]) wake();
    }),
  );

  const waitForLine: ExampleProcess['waitForLine'] = (match, options = {}) => {
    const { since = 0, timeoutMs = 10_000 } = options;
    return new Promise((resolve, reject) => {
      const check = (): void => {
        const found = lines.slice(since).find(match);
        if (found !== undefined) finish(() => resolve(found));
        else if (child.exitCode !== null || child.signalCode !== null)
          finish(() => reject(new Error(`example ${name} exited: ${stderr()}`)));
      };
      const finish = (settle: () => void): void => {
        clearTimeout(timer);
        waiters.delete(check);
        settle();
      };
      const timer = setTimeout(
        () =>
          finish(() =>
            reject(new Error(`no matching line from example ${name} within ${timeoutMs} ms`)),
          ),
        timeoutMs,
      );
      waiters.add(check);
      check();
    });
  };

  const stop = async (): Promise<number | null> => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    const timeout = new Promise<'timeout'>((resolve) => {
      const timer = setTimeout(() => resolve('timeout'), 15_000);
      void exited.then(() => clearTimeout(timer));
    });
    if ((await Promise.race([exited, timeout])) === 'timeout') {
      process.kill(-child.pid!, 'SIGKILL');
      throw new Error(`example ${name} did not stop within 15 s of SIGTERM`);
    }
    return exited;
  };

  try {
    await waitForLine((line) => line.startsWith('ready:'), { timeoutMs: 20_000 });
  } catch (err) {
    if (child.exitCode === null && child.signalCode === null) process.kill(-child.pid!, 'SIGKILL');
    throw err;
  }
  return {
    process: child,
    url: `http://127.0.0.1:${port}`,
    controlPort,
    lines,
    logs,
    waitForLog,
    waitForLine,
    stop,
  };
}

/** An example started with its ports as flags (`--port N ...`). */
export interface ExampleOnPorts<P extends string> {
  ports: Record<P, number>;
  /** Its stdout and stderr lines so far. */
  output: string[];
  /** SIGTERM unless it has ended, then its exit code. */
  stop(): Promise<number | null>;
}

/**
 * Runs `node dist/examples/NAME/main.js --<port name> <free port> ... ARGS` and waits for
 * its `ready:` line: for the examples that take their ports as flags, whose defaults
 * override the THUMBTACK_* variables `startExample` sets.
 */
export async function startExampleOnPorts<P extends string>(
  name: string,
  portNames: readonly P[],
  args: string[] = [],
): Promise<ExampleOnPorts<P>> {
  const free = await Promise.all(portNames.map(() => freePort()));
  const ports = Object.fromEntries(portNames.map((port, i) => [port, free[i]!])) as Record<
    P,
    number
  >;
  const child = spawn(
    process.execPath,
    [
      path.join(projectRoot, 'dist/examples', name, 'main.js'),
      ...portNames.flatMap((port) => [`--${port}`, String(ports[port])]),
      ...args,
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  const output: string[] = [];
  try {
    await waitForReadyLine(child, exited, output);
  } catch (err) {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    throw err;
  }
  const stop = (): Promise<number | null> => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    return exited;
  };
  return { ports, output, stop };
}

/**
 * Collects an example's output lines (stdout and stderr) into `output` and resolves at its
 * `ready:` line; rejects, with the output so far, if it exits first or takes `timeoutMs`.
 */
function waitForReadyLine(
  example: ChildProcess,
  exited: Promise<number | null>,
  output: string[],
  timeoutMs = 90_000,
): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const timer = setTimeout(
      () =>
        reject(new Error(`no ready line within ${timeoutMs} ms; output:\n${output.join('\n')}`)),
      timeoutMs,
    );
    for (const stream of [example.stdout!, example.stderr!]) {
      readline.createInterface({ input: stream }).on('line', (line) => {
        output.push(line);
        if (line.startsWith('ready: ')) {
          clearTimeout(timer);
          resolve();
        }
      });
    }
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`the example exited with ${code}; output:\n${output.join('\n')}`));
    });
  });
}
