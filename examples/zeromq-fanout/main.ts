import fs from 'node:fs';
import type http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { parseArgs } from 'node:util';
import { createSseBackend } from './backend.js';
import { startPublisher } from './publisher.js';
import { portFlag } from '../shared/port-flag.js';
import { startThumbtackNode, type ThumbtackNode } from '../shared/thumbtack-node.js';

/*
 * `npm run example -- zeromq-fanout`: a ZeroMQ XPUB publisher, two thumbtack nodes whose
 * SUB inputs connect to it (--zmq-sub-connect), and one SSE backend both nodes route to.
 * Each line typed on stdin, `CHANNEL TEXT`, is published once and reaches the clients of
 * both nodes. Ctrl-C stops everything.
 */
const { values: flags } = parseArgs({
  options: {
    'xpub-port': { type: 'string', default: '5590' },
    'backend-port': { type: 'string', default: '8010' },
    'node-a-port': { type: 'string', default: '7101' },
    'node-a-control-port': { type: 'string', default: '5611' },
    'node-a-pull-port': { type: 'string', default: '5610' },
    'node-b-port': { type: 'string', default: '7102' },
    'node-b-control-port': { type: 'string', default: '5621' },
    'node-b-pull-port': { type: 'string', default: '5620' },
    'log-level': { type: 'string', default: 'warn' },
  },
});
const port = (name: keyof typeof flags): number => portFlag(flags, name);
const xpub = `tcp://127.0.0.1:${port('xpub-port')}`;
const backendPort = port('backend-port');

const publisher = await startPublisher(xpub, ({ channel, isSubscribe, listeners }) => {
  const nodes = `${listeners} node${listeners === 1 ? '' : 's'} listening`;
  console.log(`publisher: ${isSubscribe ? 'subscribe' : 'unsubscribe'} "${channel}" (${nodes})`);
});
console.log(`publisher: XPUB bound at ${xpub}`);

const backend: http.Server = createSseBackend();
await new Promise<void>((resolve) => backend.listen(backendPort, '127.0.0.1', resolve));
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'thumbtack-zeromq-fanout-'));
const routes = path.join(dir, 'routes');
fs.writeFileSync(routes, `* 127.0.0.1:${backendPort}\n`);

const nodes: ThumbtackNode[] = [];
let stopping: Promise<void> | undefined;
/** Stops the nodes (they drain), then the publisher and backend, then exits; once. */
async function stop(code: number): Promise<never> {
  stopping ??= (async () => {
    const codes = await Promise.all(nodes.map((node) => node.stop()));
    nodes.forEach((node, i) => console.log(`${node.name} stopped (exit code ${codes[i]})`));
    publisher.close();
    backend.closeAllConnections();
    backend.close();
    fs.rmSync(dir, { recursive: true, force: true });
  })();
  await stopping;
  process.exit(code);
}
process.on('SIGINT', () => void stop(0));
process.on('SIGTERM', () => void stop(0));

for (const name of ['a', 'b'] as const) {
  const controlPort = port(`node-${name}-control-port`);
  const args = [
    '--routes',
    routes,
    '--host',
    '127.0.0.1',
    '--port',
    String(port(`node-${name}-port`)),
    '--control-port',
    String(controlPort),
    '--zmq-pull',
    `tcp://127.0.0.1:${port(`node-${name}-pull-port`)}`,
    // The SUB input connects to the publisher's XPUB instead of binding a port of its own.
    '--zmq-sub',
    xpub,
    '--zmq-sub-connect',
    '--workers',
    '1',
    '--drain-timeout',
    '1',
    '--log-level',
    flags['log-level'],
  ];
  const node = startThumbtackNode(`node ${name.toUpperCase()}`, controlPort, args);
  nodes.push(node);
  void node.exited.then((code) => {
    if (stopping) return;
    console.error(`${node.name} exited with ${code}; stopping`);
    void stop(1);
  });
}
try {
  await Promise.all(nodes.map((node) => node.ready));
} catch (err) {
  console.error((err as Error).message);
  await stop(1);
}

console.log(
  `ready: node A on http://127.0.0.1:${port('node-a-port')}, node B on http://127.0.0.1:${port('node-b-port')}\n` +
    `  in two terminals: curl -N http://127.0.0.1:${port('node-a-port')}/news` +
    ` and curl -N http://127.0.0.1:${port('node-b-port')}/news\n` +
    '  then type here: news hello   (CHANNEL TEXT, one publish per line)',
);

readline.createInterface({ input: process.stdin }).on('line', (line) => {
  const match = /^\s*(\S+)\s+(.*\S)\s*$/.exec(line);
  if (!match) {
    if (line.trim()) console.log('publisher: type CHANNEL TEXT, e.g. news hello');
    return;
  }
  const [, channel, text] = match as unknown as [string, string, string];
  const listeners = publisher.listeners(channel);
  // An XPUB drops what no subscriber asked for; say so instead of sending into the void.
  if (listeners === 0) {
    console.log(`publisher: "${channel}" has no listeners; not sent`);
    return;
  }
  void publisher.publish(channel, text).then((id) => {
    console.log(
      `publisher: sent "${channel}" #${id} to ${listeners} node${listeners === 1 ? '' : 's'}`,
    );
  });
});
