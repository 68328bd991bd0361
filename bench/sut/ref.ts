import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePorts } from '../free-port.js';
import type { RefForwarderKind, RefWsEchoKind } from '../options.js';
import { processTree, stopTree } from '../process-tree.js';
import {
  spawnLogged,
  stopGraceMs,
  waitForHttp,
  waitForLog,
  type Sut,
  type SutOptions,
} from './sut.js';

const entry = fileURLToPath(new URL('../ref-server.js', import.meta.url));

/** Runs the bare uWebSockets.js reference (bench/ref-server.ts). */
export async function startRef(
  options: SutOptions & { forwarder: RefForwarderKind; wsEcho: RefWsEchoKind },
): Promise<Sut> {
  const [port, publishPort, subPort] = await freePorts(3);
  const logFile = path.join(options.workDir, 'ref.log');
  const args = [
    entry,
    ...['--port', String(port), '--publish-port', String(publishPort)],
    ...['--zmq-sub', `tcp://127.0.0.1:${subPort}`, '--backend', `127.0.0.1:${options.backendPort}`],
    ...['--forwarder', options.forwarder, '--ws-echo', options.wsEcho],
    ...[
      '--workers',
      String(options.workers),
      '--relay',
      `ipc://${path.join(options.workDir, 'relay')}`,
    ],
  ];
  const pid = spawnLogged(process.execPath, args, logFile);
  await waitForLog(logFile, (text) => text.includes('"ref ready"'), 20_000, pid);
  await waitForHttp(port, '/plain/ready', 15_000).catch(async (err: unknown) => {
    await stopTree(pid, 2_000);
    throw err;
  });
  return {
    name: 'ref',
    clientPort: port,
    publishUrl: `http://127.0.0.1:${publishPort}/publish/`,
    zmqSub: `tcp://127.0.0.1:${subPort}`,
    processes: () => processTree(pid),
    description: `bare uWS, ${options.workers} process${options.workers > 1 ? 'es' : ''}, forwarding over ${options.forwarder === 'raw' ? 'raw sockets' : 'undici'}${options.wsEcho === 'backend' ? ', WebSocket echo through the backend' : ''}`,
    logFile,
    logFiles: [logFile],
    stop: () => stopTree(pid, stopGraceMs),
  };
}
