import fs from 'node:fs';
import type http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
// The same small launcher the ZeroMQ example uses: spawn bin/thumbtack.js, wait for /readyz.
import { portFlag } from '../shared/port-flag.js';
import { startThumbtackNode, type ThumbtackNode } from '../shared/thumbtack-node.js';
import { createBackend } from './backend.js';
import { createGateway } from './gateway.js';

/*
 * `npm run example -- gateway`: one backend and an http-proxy-3 API gateway chained with
 * thumbtack both ways, on 127.0.0.1:
 *   (a) client → gateway A → thumbtack A → backend   (the gateway is the edge)
 *   (b) client → thumbtack B → gateway B → backend   (thumbtack is the edge)
 * Ctrl-C stops everything.
 */
const { values: flags } = parseArgs({
  options: {
    'backend-port': { type: 'string', default: '8020' },
    'gateway-a-port': { type: 'string', default: '8080' },
    'thumbtack-a-port': { type: 'string', default: '7201' },
    'thumbtack-a-control-port': { type: 'string', default: '5631' },
    'thumbtack-a-pull-port': { type: 'string', default: '5630' },
    'thumbtack-a-sub-port': { type: 'string', default: '5632' },
    'thumbtack-b-port': { type: 'string', default: '7202' },
    'thumbtack-b-control-port': { type: 'string', default: '5641' },
    'thumbtack-b-pull-port': { type: 'string', default: '5640' },
    'thumbtack-b-sub-port': { type: 'string', default: '5642' },
    'gateway-b-port': { type: 'string', default: '8081' },
    'log-level': { type: 'string', default: 'warn' },
  },
});
const port = (name: keyof typeof flags): number => portFlag(flags, name);
const local = (name: keyof typeof flags): string => `127.0.0.1:${port(name)}`;

const apiKeys = { 'alice-key': 'alice', 'bob-key': 'bob' };
const rateLimit = { burst: 10, perSecond: 2 };
const sig = { sigKey: 'changeme', sigIss: 'pushpin' }; // thumbtack's defaults

const servers: http.Server[] = [];
const nodes: ThumbtackNode[] = [];
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'thumbtack-gateway-'));
let stopping: Promise<void> | undefined;
/** Stops both thumbtacks (they drain), then the servers, then exits; once. */
async function stop(code: number): Promise<never> {
  stopping ??= (async () => {
    const codes = await Promise.all(nodes.map((node) => node.stop()));
    nodes.forEach((node, i) => console.log(`${node.name} stopped (exit code ${codes[i]})`));
    for (const server of servers) {
      server.closeAllConnections();
      server.close();
    }
    fs.rmSync(dir, { recursive: true, force: true });
  })();
  await stopping;
  process.exit(code);
}
process.on('SIGINT', () => void stop(0));
process.on('SIGTERM', () => void stop(0));

async function listen(server: http.Server, name: keyof typeof flags): Promise<void> {
  servers.push(server);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port(name), '127.0.0.1', resolve);
  });
}

/** A thumbtack whose routes send everything to `upstream`, /api/ws/chat as WebSocket-over-HTTP. */
function startThumbtack(chain: 'a' | 'b', upstream: string): void {
  const routes = path.join(dir, `routes-${chain}`);
  fs.writeFileSync(routes, `*,path_beg=/api/ws/chat ${upstream},over_http\n* ${upstream}\n`);
  const controlPort = port(`thumbtack-${chain}-control-port`);
  const node = startThumbtackNode(`thumbtack ${chain.toUpperCase()}`, controlPort, [
    '--routes',
    routes,
    '--host',
    '127.0.0.1',
    '--port',
    String(port(`thumbtack-${chain}-port`)),
    '--control-port',
    String(controlPort),
    '--zmq-pull',
    `tcp://${local(`thumbtack-${chain}-pull-port`)}`,
    '--zmq-sub',
    `tcp://${local(`thumbtack-${chain}-sub-port`)}`,
    '--workers',
    '1',
    '--drain-timeout',
    '1',
    '--log-level',
    flags['log-level'],
  ]);
  nodes.push(node);
  void node.exited.then((code) => {
    if (stopping) return;
    console.error(`${node.name} exited with ${code}; stopping`);
    void stop(1);
  });
}

try {
  const controlUrls = ['a', 'b'].map(
    (c) => `http://${local(`thumbtack-${c as 'a' | 'b'}-control-port`)}`,
  );
  await listen(createBackend({ publishTo: controlUrls, ...sig }), 'backend-port');
  // (a) The gateway is the edge: held streams and WebSockets cross it, so its upstream
  // timeout must outlive them (an hour, as the README's nginx block has).
  await listen(
    createGateway({
      routes: [{ prefix: '/api/', target: `http://${local('thumbtack-a-port')}` }],
      apiKeys,
      rateLimit,
      upstreamIdleTimeoutMs: 3_600_000,
    }),
    'gateway-a-port',
  );
  startThumbtack('a', local('backend-port'));
  // (b) thumbtack is the edge: the backend answers at once (thumbtack holds), so the
  // gateway's requests are short and a short timeout is right.
  await listen(
    createGateway({
      routes: [{ prefix: '/api/', target: `http://${local('backend-port')}` }],
      apiKeys,
      rateLimit,
      upstreamIdleTimeoutMs: 10_000,
    }),
    'gateway-b-port',
  );
  startThumbtack('b', local('gateway-b-port'));
  await Promise.all(nodes.map((node) => node.ready));
} catch (err) {
  console.error((err as Error).message);
  await stop(1);
}

const a = `http://${local('gateway-a-port')}`;
const b = `http://${local('thumbtack-b-port')}`;
console.log(
  `ready: (a) gateway → thumbtack → backend at ${a}; (b) thumbtack → gateway → backend at ${b}\n` +
    `  try: curl -H 'X-API-Key: alice-key' ${a}/api/hello\n` +
    `       curl -N -H 'X-API-Key: alice-key' ${a}/api/events/news\n` +
    `       curl -H 'Authorization: Bearer alice-key' -d hello ${b}/api/messages/news`,
);
