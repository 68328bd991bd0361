import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { freePort } from './free-port.js';
import { watchLogs, type LogWatcher } from './log-watcher.js';
import { collectLines, type OutputLines } from './output-lines.js';
import { projectRoot } from './thumbtack.js';

/*
 * Runs an example as its README says (`node dist/examples/NAME/main.js`, which
 * `npm run example -- NAME` runs after a build), on free ports given through the
 * THUMBTACK_* variables thumbtack itself reads, and waits for its `ready:` line.
 */

export interface ExampleProcess extends Pick<LogWatcher, 'logs' | 'waitForLog'>, OutputLines {
  process: ChildProcess;
  /** thumbtack's client address, `http://127.0.0.1:<THUMBTACK_PORT>`. */
  url: string;
  controlPort: number;
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
  const { logs, waitForLog } = watchLogs(child);
  const { lines, waitForLine } = collectLines(child, `example ${name}`);
  const exited = ended(child);

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
export interface ExampleOnPorts<P extends string> extends OutputLines {
  ports: Record<P, number>;
  /** Its stdin, for the examples that read lines from it. */
  stdin: NodeJS.WritableStream;
  /** SIGTERM unless it has ended, then its exit code, once its output is all read. */
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
    { stdio: ['pipe', 'pipe', 'pipe'] },
  );
  const exited = ended(child);
  const { lines, waitForLine } = collectLines(child, `example ${name}`);
  try {
    await waitForLine((line) => line.startsWith('ready: '), { timeoutMs: 90_000 });
  } catch (err) {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    throw err;
  }
  const stop = (): Promise<number | null> => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    return exited;
  };
  return { ports, stdin: child.stdin!, lines, waitForLine, stop };
}

/** The exit code once the process has ended and its output is all read ('close'). */
function ended(child: ChildProcess): Promise<number | null> {
  return new Promise((resolve) => child.once('close', (code) => resolve(code)));
}
