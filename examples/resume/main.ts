import fs from 'node:fs';
import type http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
// The small launcher the other examples use: spawn bin/thumbtack.js, wait for /readyz.
import { portFlag } from '../shared/port-flag.js';
import { startThumbtackNode, type ThumbtackNode } from '../shared/thumbtack-node.js';
import { createFeedBackend } from './backend.js';

/*
 * `npm run example -- resume`: a WebSocket feed with per-user authorisation, resume from
 * channel history and revocation. The feed backend on 127.0.0.1:8000 and thumbtack in front
 * of it on :7999, its `/feed` route carried as WebSocket-over-HTTP. Ctrl-C stops both.
 */
const { values: flags } = parseArgs({
  options: {
    port: { type: 'string', default: '7999' },
    'control-port': { type: 'string', default: '5561' },
    'pull-port': { type: 'string', default: '5560' },
    'sub-port': { type: 'string', default: '5562' },
    'backend-port': { type: 'string', default: '8000' },
    workers: { type: 'string', default: '2' },
    // How far back a client can resume: items kept per channel, and for how long (seconds).
    'history-size': { type: 'string', default: '100' },
    'history-ttl': { type: 'string', default: '300' },
    'log-level': { type: 'string', default: 'warn' },
  },
});
const port = (name: keyof typeof flags): number => portFlag(flags, name);
const local = (name: keyof typeof flags): string => `127.0.0.1:${port(name)}`;
const sig = { sigKey: 'resume-example-key', sigIss: 'thumbtack' };

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'thumbtack-resume-'));
const routes = path.join(dir, 'routes');
// Only /feed goes through thumbtack; the backend's /admin paths stay on its own port.
fs.writeFileSync(routes, `*,path_beg=/feed ${local('backend-port')},over_http\n`);

let backend: http.Server | undefined;
let node: ThumbtackNode | undefined;
let stopping: Promise<void> | undefined;
/** Stops thumbtack (it drains), then the backend, then exits; once. */
async function stop(code: number): Promise<never> {
  stopping ??= (async () => {
    if (node) console.log(`thumbtack stopped (exit code ${await node.stop()})`);
    backend?.closeAllConnections();
    backend?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  })();
  await stopping;
  process.exit(code);
}
process.on('SIGINT', () => void stop(0));
process.on('SIGTERM', () => void stop(0));

try {
  const server = createFeedBackend({ controlUrl: `http://${local('control-port')}`, ...sig });
  backend = server;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port('backend-port'), '127.0.0.1', resolve);
  });
  node = startThumbtackNode('thumbtack', port('control-port'), [
    '--routes',
    routes,
    '--host',
    '127.0.0.1',
    '--port',
    String(port('port')),
    '--control-port',
    String(port('control-port')),
    '--zmq-pull',
    `tcp://${local('pull-port')}`,
    '--zmq-sub',
    `tcp://${local('sub-port')}`,
    '--sig-key',
    sig.sigKey,
    '--sig-iss',
    sig.sigIss,
    '--workers',
    flags.workers,
    '--history-size',
    flags['history-size'],
    '--history-ttl',
    flags['history-ttl'],
    '--drain-timeout',
    '1',
    '--log-level',
    flags['log-level'],
  ]);
  void node.exited.then((code) => {
    if (stopping) return;
    console.error(`thumbtack exited with ${code}; stopping`);
    void stop(1);
  });
  await node.ready;
} catch (err) {
  console.error((err as Error).message);
  await stop(1);
}

const admin = `http://${local('backend-port')}/admin`;
console.log(
  `ready: feed on ws://127.0.0.1:${port('port')}/feed?token=alice-secret (or bob-secret)\n` +
    `  publish: curl -d 'order 1' '${admin}/publish?channel=orders'\n` +
    `  revoke:  curl -X POST '${admin}/revoke?user=alice'`,
);
