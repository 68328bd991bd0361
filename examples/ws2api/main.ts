import http from 'node:http';
import { parseArgs } from 'node:util';
import { runBehindThumbtack } from '../shared/backend-behind-thumbtack.js';
import { portFlag } from '../shared/port-flag.js';
import { createChatApi } from './chat-api.js';

/*
 * `npm run example -- ws2api`: a chat room written as a plain REST API (express) on
 * 127.0.0.1:8080, and thumbtack in front of it on :7999 turning each WebSocket on /chat
 * into ws2api's REST calls (`over_http=rest`). Ctrl-C stops both.
 */
const { values: flags } = parseArgs({
  options: {
    port: { type: 'string', default: '7999' },
    'control-port': { type: 'string', default: '5561' },
    'pull-port': { type: 'string', default: '5560' },
    'sub-port': { type: 'string', default: '5562' },
    'api-port': { type: 'string', default: '8080' },
    workers: { type: 'string', default: '2' },
    'log-level': { type: 'string', default: 'warn' },
  },
});
const port = (name: keyof typeof flags): number => portFlag(flags, name);
const local = (name: keyof typeof flags): string => `127.0.0.1:${port(name)}`;

const api = createChatApi({
  controlUrl: `http://${local('control-port')}`,
  log: (line) => console.log(`api: ${line}`),
});
await runBehindThumbtack({
  name: 'ws2api',
  backend: http.createServer(api),
  backendPort: port('api-port'),
  // Only /chat goes through thumbtack; the API's /admin paths stay on its own port.
  routes: [`*,path_beg=/chat ${local('api-port')},over_http=rest`],
  controlPort: port('control-port'),
  thumbtackArgs: [
    ...['--host', '127.0.0.1', '--port', String(port('port'))],
    ...['--control-port', String(port('control-port'))],
    ...['--zmq-pull', `tcp://${local('pull-port')}`, '--zmq-sub', `tcp://${local('sub-port')}`],
    ...['--workers', flags.workers, '--drain-timeout', '1', '--log-level', flags['log-level']],
  ],
});

console.log(
  `ready: chat on ws://127.0.0.1:${port('port')}/chat (header Authorization: Bearer alice-token or bob-token)\n` +
    `  clients: curl http://${local('api-port')}/admin/clients\n` +
    `  push:    curl -d 'hello' http://${local('api-port')}/admin/clients/<ClientId>`,
);
