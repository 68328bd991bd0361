import { parseArgs } from 'node:util';
import { runBehindThumbtack } from '../shared/backend-behind-thumbtack.js';
import { nodeArgs, nodeFlagOptions, readNodeFlags } from '../shared/node-flags.js';
import { portFlag } from '../shared/port-flag.js';
import { createPushBackend } from './push-backend.js';

/*
 * `npm run example -- zuul-push`: Zuul Push's jobs done by a small backend on
 * 127.0.0.1:8090 and thumbtack in front of it on :7999 (a WebSocket on /ws, an SSE stream
 * on /events), with dithered connection lifetimes and Zuul's close grace. Ctrl-C stops both.
 */
const { values: flags } = parseArgs({
  options: {
    ...nodeFlagOptions,
    'backend-port': { type: 'string', default: '8090' },
    // Zuul Push's defaults: connections live 30 minutes, plus up to 3 minutes of dither.
    'connection-max-lifetime': { type: 'string', default: '1800' },
    'connection-lifetime-dither': { type: 'string', default: '180' },
    // client.close.grace.period: a go-away notice (`_CLOSE_`), then 4 s to leave.
    'close-grace': { type: 'string', default: '4' },
  },
});
const node = readNodeFlags(flags);
const backendPort = portFlag(flags, 'backend-port');

const backend = createPushBackend({
  controlUrl: `http://127.0.0.1:${node.controlPort}`,
  log: (line) => console.log(`backend: ${line}`),
});
await runBehindThumbtack({
  name: 'zuul-push',
  backend,
  backendPort,
  // Clients reach /ws and /events through thumbtack; /push stays on the backend's own port.
  routes: [
    `*,path_beg=/ws 127.0.0.1:${backendPort},over_http`,
    `*,path_beg=/events 127.0.0.1:${backendPort}`,
  ],
  controlPort: node.controlPort,
  thumbtackArgs: [
    ...nodeArgs(node),
    ...['--connection-max-lifetime', flags['connection-max-lifetime']],
    ...['--connection-lifetime-dither', flags['connection-lifetime-dither']],
    ...['--close-grace', flags['close-grace']],
  ],
});

console.log(
  `ready: ws://127.0.0.1:${node.port}/ws?token=alice-token, ` +
    `http://127.0.0.1:${node.port}/events?token=bob-token\n` +
    `  push: curl -i -d 'hello' http://127.0.0.1:${backendPort}/push/alice   # 200 written, 404 not connected`,
);
