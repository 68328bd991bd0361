import { parseArgs } from 'node:util';
import { runBehindThumbtack } from '../shared/backend-behind-thumbtack.js';
import { nodeArgs, nodeFlagOptions, readNodeFlags } from '../shared/node-flags.js';
import { portFlag } from '../shared/port-flag.js';
import { createFeedBackend } from './backend.js';

/*
 * `npm run example -- resume`: a WebSocket feed with per-user authorisation, resume from
 * channel history and revocation. The feed backend on 127.0.0.1:8000 and thumbtack in front
 * of it on :7999, its `/feed` route carried as WebSocket-over-HTTP. Ctrl-C stops both.
 */
const { values: flags } = parseArgs({
  options: {
    ...nodeFlagOptions,
    'backend-port': { type: 'string', default: '8000' },
    // How far back a client can resume: items kept per channel, and for how long (seconds).
    'history-size': { type: 'string', default: '100' },
    'history-ttl': { type: 'string', default: '300' },
  },
});
const node = readNodeFlags(flags);
const backendPort = portFlag(flags, 'backend-port');
const sig = { sigKey: 'resume-example-key', sigIss: 'thumbtack' };

await runBehindThumbtack({
  name: 'resume',
  backend: createFeedBackend({ controlUrl: `http://127.0.0.1:${node.controlPort}`, ...sig }),
  backendPort,
  // Only /feed goes through thumbtack; the backend's /admin paths stay on its own port.
  routes: [`*,path_beg=/feed 127.0.0.1:${backendPort},over_http`],
  controlPort: node.controlPort,
  thumbtackArgs: [
    ...nodeArgs(node),
    ...['--sig-key', sig.sigKey, '--sig-iss', sig.sigIss],
    ...['--history-size', flags['history-size'], '--history-ttl', flags['history-ttl']],
  ],
});

const admin = `http://127.0.0.1:${backendPort}/admin`;
console.log(
  `ready: feed on ws://127.0.0.1:${node.port}/feed?token=alice-secret (or bob-secret)\n` +
    `  publish: curl -d 'order 1' '${admin}/publish?channel=orders'\n` +
    `  revoke:  curl -X POST '${admin}/revoke?user=alice'`,
);
