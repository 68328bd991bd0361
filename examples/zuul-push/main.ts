import { parseArgs } from 'node:util';
import { runBehindThumbtack } from '../shared/backend-behind-thumbtack.js';
import { portFlag } from '../shared/port-flag.js';
import { createPushBackend } from './push-backend.js';

/*
 * `npm run example -- zuul-push`: Zuul Push's jobs done by a small backend on
 * 127.0.0.1:8090 and thumbtack in front of it on :7999 (a WebSocket on /ws, an SSE stream
 * on /events), with dithered connection lifetimes. Ctrl-C stops both.
 */
const { values: flags } = parseArgs({
  options: {
    port: { type: 'string', default: '7999' },
    'control-port': { type: 'string', default: '5561' },
    'pull-port': { type: 'string', default: '5560' },
    'sub-port': { type: 'string', default: '5562' },
    'backend-port': { type: 'string', default: '8090' },
    workers: { type: 'string', default: '2' },
    // Zuul Push's defaults: connections live 30 minutes, plus up to 3 minutes of dither.
    'connection-max-lifetime': { type: 'string', default: '1800' },
    'connection-lifetime-dither': { type: 'string', default: '180' },
    'log-level': { type: 'string', default: 'warn' },
  },
});
const port = (name: keyof typeof flags): number => portFlag(flags, name);
const local = (name: keyof typeof flags): string => `127.0.0.1:${port(name)}`;

const backend = createPushBackend({
  controlUrl: `http://${local('control-port')}`,
  log: (line) => console.log(`backend: ${line}`),
});
await runBehindThumbtack({
  name: 'zuul-push',
  backend,
  backendPort: port('backend-port'),
  // Clients reach /ws and /events through thumbtack; /push stays on the backend's own port.
  routes: [
    `*,path_beg=/ws ${local('backend-port')},over_http`,
    `*,path_beg=/events ${local('backend-port')}`,
  ],
  controlPort: port('control-port'),
  thumbtackArgs: [
    ...['--host', '127.0.0.1', '--port', String(port('port'))],
    ...['--control-port', String(port('control-port'))],
    ...['--zmq-pull', `tcp://${local('pull-port')}`, '--zmq-sub', `tcp://${local('sub-port')}`],
    ...['--connection-max-lifetime', flags['connection-max-lifetime']],
    ...['--connection-lifetime-dither', flags['connection-lifetime-dither']],
    ...['--workers', flags.workers, '--drain-timeout', '1', '--log-level', flags['log-level']],
  ],
});

console.log(
  `ready: ws://127.0.0.1:${port('port')}/ws?token=alice-token, ` +
    `http://127.0.0.1:${port('port')}/events?token=bob-token\n` +
    `  push: curl -i -d 'hello' http://${local('backend-port')}/push/alice   # 200 written, 404 not connected`,
);
