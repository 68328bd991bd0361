import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

/** Generous: a busy machine starting several nodes at once can take tens of seconds. */
const readyTimeoutMs = 60_000;

export interface ThumbtackNode {
  name: string;
  child: ChildProcess;
  /** Resolves once GET /readyz answers 200; rejects if the node exits first or takes a minute. */
  ready: Promise<void>;
  /** Resolves with the exit code once the node has stopped. */
  exited: Promise<number | null>;
  /** SIGTERM (thumbtack drains, then exits), then the exit code. */
  stop(): Promise<number | null>;
}

/**
 * Starts `thumbtack` (bin/thumbtack.js) with `args`, prefixing each line it prints with its
 * name. Its control port answering GET /readyz with 200 (handler up, a proxy worker on its
 * bus) makes it `ready`.
 */
export function startThumbtackNode(
  name: string,
  controlPort: number,
  args: string[],
): ThumbtackNode {
  const child = spawn(process.execPath, [path.join(root, 'bin/thumbtack.js'), ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  for (const stream of [child.stdout, child.stderr]) {
    readline
      .createInterface({ input: stream })
      .on('line', (line) => console.log(`${name} | ${line}`));
  }
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  let hasExited = false;
  void exited.then(() => (hasExited = true));
  const ready = (async () => {
    const deadline = Date.now() + readyTimeoutMs;
    while (!(await isReady(controlPort))) {
      if (hasExited) throw new Error(`${name} exited with ${child.exitCode} during start-up`);
      if (Date.now() > deadline) {
        throw new Error(
          `${name} was not ready within ${readyTimeoutMs / 1000} s (GET /readyz on port ${controlPort})`,
        );
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  })();
  // A node stopped before anyone awaited `ready` must not be an unhandled rejection.
  ready.catch(() => undefined);
  return {
    name,
    child,
    ready,
    exited,
    stop: () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      return exited;
    },
  };
}

async function isReady(controlPort: number): Promise<boolean> {
  try {
    const res = await fetch(`http://127.0.0.1:${controlPort}/readyz`);
    await res.arrayBuffer();
    return res.status === 200;
  } catch {
    return false;
  }
}
