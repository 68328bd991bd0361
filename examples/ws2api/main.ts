import http from 'node:http';
import { parseArgs } from 'node:util';
import { runBehindThumbtack } from '../shared/backend-behind-thumbtack.js';
import { nodeArgs, nodeFlagOptions, readNodeFlags } from '../shared/node-flags.js';
import { portFlag } from '../shared/port-flag.js';
import { createChatApi } from './chat-api.js';

/*
 * `npm run example -- ws2api`: a chat room written as a plain REST API (express) on
 * 127.0.0.1:8080, and thumbtack in front of it on :7999 turning each WebSocket on /chat
 * into ws2api's REST calls (`over_http=rest`). Ctrl-C stops both.
 */
const { values: flags } = parseArgs({
  options: {
    ...nodeFlagOptions,
    'api-port': { type: 'string', default: '8080' },
  },
});
const node = readNodeFlags(flags);
const apiPort = portFlag(flags, 'api-port');

const api = createChatApi({
  controlUrl: `http://127.0.0.1:${node.controlPort}`,
  log: (line) => console.log(`api: ${line}`),
});
await runBehindThumbtack({
  name: 'ws2api',
  backend: http.createServer(api),
  backendPort: apiPort,
  // Only /chat goes through thumbtack; the API's /admin paths stay on its own port.
  routes: [`*,path_beg=/chat 127.0.0.1:${apiPort},over_http=rest`],
  controlPort: node.controlPort,
  thumbtackArgs: nodeArgs(node),
});

console.log(
  `ready: chat on ws://127.0.0.1:${node.port}/chat (header Authorization: Bearer alice-token or bob-token)\n` +
    `  clients: curl http://127.0.0.1:${apiPort}/admin/clients\n` +
    `  push:    curl -d 'hello' http://127.0.0.1:${apiPort}/admin/clients/<ClientId>`,
);
