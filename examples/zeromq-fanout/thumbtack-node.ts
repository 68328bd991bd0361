import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

export interface ThumbtackNode {
  name: string;
  child: ChildProcess;
  /** Resolves with the exit code once the node has stopped. */
  exited: Promise<number | null>;
  /** SIGTERM (thumbtack drains, then exits), then the exit code. */
  stop(): Promise<number | null>;
}

/**
 * Starts `thumbtack` (bin/thumbtack.js) with `args`, prefixing each line it prints with its
 * name, and resolves once its control port answers GET /readyz with 200 (handler up, a
 * proxy worker on its bus). Rejects if it exits first or is not ready within 20 s.
 */
export async function startThumbtackNode(
  name: string,
  controlPort: number,
  args: string[],
): Promise<ThumbtackNode> {
  const child = spawn(process.execPath, [path.join(root, 'bin/thumbtack.js'), ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  for (const stream of [child.stdout, child.stderr]) {
    readline
      .createInterface({ input: stream })
      .on('line', (line) => console.log(`${name} | ${line}`));
  }
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  const node: ThumbtackNode = {
    name,
    child,
    exited,
    stop: () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      return exited;
    },
  };
  let hasExited = false;
  void exited.then(() => (hasExited = true));
  const deadline = Date.now() + 20_000;
  while (!(await isReady(controlPort))) {
    if (hasExited) throw new Error(`${name} exited with ${child.exitCode} during start-up`);
    if (Date.now() > deadline) {
      await node.stop();
      throw new Error(`${name} was not ready within 20 s (GET /readyz on port ${controlPort})`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return node;
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
