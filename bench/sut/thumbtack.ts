import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePorts } from '../free-port.js';
import { processTree, stopTree } from '../process-tree.js';
import { workerNodeFlags } from '../../src/runner/worker-flags.js';
import {
  spawnLogged,
  stopGraceMs,
  waitForHttp,
  waitForLog,
  type Sut,
  type SutOptions,
} from './sut.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

/**
 * Runs thumbtack from this checkout's build: normally its runner (`bin/thumbtack.js`, which
 * starts the handler and the workers). Node refuses --cpu-prof in NODE_OPTIONS, so with
 * `profileDir` the bench starts the handler and each worker itself, as the runner would
 * (same flags and worker Node flags, a private bus), each with --cpu-prof. With `redis`, the node shares
 * publishes with every other node on that Redis (`--redis`).
 */
export async function startThumbtack(options: SutOptions & { redis?: string }): Promise<Sut> {
  const [port, controlPort, pullPort, subPort] = await freePorts(4);
  const routes = path.join(options.workDir, 'routes');
  fs.writeFileSync(
    routes,
    `*,path_beg=/ws/ 127.0.0.1:${options.backendPort},over_http\n* 127.0.0.1:${options.backendPort}\n`,
  );
  const logFile = path.join(options.workDir, 'thumbtack.log');
  const flags = [
    ...['--routes', routes, '--port', String(port), '--control-port', String(controlPort)],
    ...['--zmq-pull', `tcp://127.0.0.1:${pullPort}`, '--zmq-sub', `tcp://127.0.0.1:${subPort}`],
    ...['--workers', String(options.workers), '--host', '127.0.0.1'],
    ...(options.redis ? ['--redis', options.redis] : []),
  ];
  const roots: number[] = [];
  const { profileDir } = options;
  if (profileDir) {
    const bus = `ipc://${path.join(options.workDir, 'bus')}`;
    const stats = `ipc://${path.join(options.workDir, 'stats')}`;
    const node = [process.execPath, '--cpu-prof', `--cpu-prof-dir=${profileDir}`];
    roots.push(
      spawnLogged(
        node[0],
        [...node.slice(1), 'dist/handler/main.js', ...flags, '--bus', bus, '--stats', stats],
        logFile,
        process.env,
        root,
      ),
    );
    for (let i = 0; i < options.workers; i++) {
      roots.push(
        spawnLogged(
          node[0],
          [
            ...node.slice(1),
            ...workerNodeFlags(),
            'dist/proxy/main.js',
            ...flags,
            ...['--bus', bus, '--stats', stats],
          ],
          logFile,
          process.env,
          root,
        ),
      );
    }
  } else {
    roots.push(
      spawnLogged(
        process.execPath,
        [path.join(root, 'bin/thumbtack.js'), ...flags],
        logFile,
        process.env,
        root,
      ),
    );
  }
  const stop = () =>
    Promise.all(roots.map((pid) => stopTree(pid, stopGraceMs))).then(() => undefined);
  const readyWorkers = (text: string) => text.split('"proxy ready"').length - 1;
  try {
    for (const pid of roots) {
      await waitForLog(
        logFile,
        (text) => text.includes('"handler ready"') && readyWorkers(text) >= options.workers,
        30_000,
        pid,
      );
    }
    await waitForHttp(port, '/plain/ready', 15_000);
  } catch (err) {
    await stop();
    throw err;
  }
  return {
    name: 'thumbtack',
    clientPort: port,
    publishUrl: `http://127.0.0.1:${controlPort}/publish/`,
    zmqSub: `tcp://127.0.0.1:${subPort}`,
    processes: () => roots.flatMap((pid) => processTree(pid)),
    description:
      `${options.workers} worker${options.workers > 1 ? 's' : ''}` +
      `${options.redis ? `, --redis ${options.redis}` : ''}${profileDir ? ', CPU-profiled' : ''}`,
    logFile,
    logFiles: [logFile],
    stop,
  };
}
