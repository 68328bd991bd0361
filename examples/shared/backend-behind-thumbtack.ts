import fs from 'node:fs';
import type http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { startThumbtackNode, type ThumbtackNode } from './thumbtack-node.js';

/*
 * What a one-backend example's main does around its backend: listen on 127.0.0.1, write a
 * routes file, start one thumbtack node in front, stop both on Ctrl-C (thumbtack drains
 * first) or when thumbtack exits, and exit.
 */

export interface BehindThumbtack {
  /** The example's name, for the temporary directory and messages. */
  name: string;
  backend: http.Server;
  backendPort: number;
  /** Lines of the routes file. */
  routes: string[];
  /** thumbtack's control port (its /readyz says when it is up). */
  controlPort: number;
  /** Everything else for bin/thumbtack.js, after `--routes FILE`. */
  thumbtackArgs: string[];
}

/** Resolves once the backend listens and thumbtack is ready; exits the process on failure. */
export async function runBehindThumbtack(options: BehindThumbtack): Promise<void> {
  const { backend } = options;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `thumbtack-${options.name}-`));
  const routes = path.join(dir, 'routes');
  fs.writeFileSync(routes, options.routes.map((line) => `${line}\n`).join(''));

  let node: ThumbtackNode | undefined;
  let stopping: Promise<void> | undefined;
  const stop = async (code: number): Promise<never> => {
    stopping ??= (async () => {
      if (node) console.log(`thumbtack stopped (exit code ${await node.stop()})`);
      backend.closeAllConnections();
      backend.close();
      fs.rmSync(dir, { recursive: true, force: true });
    })();
    await stopping;
    process.exit(code);
  };
  process.on('SIGINT', () => void stop(0));
  process.on('SIGTERM', () => void stop(0));

  try {
    await new Promise<void>((resolve, reject) => {
      backend.once('error', reject);
      backend.listen(options.backendPort, '127.0.0.1', resolve);
    });
    node = startThumbtackNode('thumbtack', options.controlPort, [
      '--routes',
      routes,
      ...options.thumbtackArgs,
    ]);
    void node.exited.then((code) => {
      if (stopping) return;
      console.error(`thumbtack exited with ${code}; stopping`);
      void stop(1);
    });
    await node.ready;
  } catch (err) {
    console.error(`${options.name}: ${(err as Error).message}`);
    await stop(1);
  }
}
