import { parseArgs } from 'node:util';
import { runBehindThumbtack } from '../shared/backend-behind-thumbtack.js';
import { nodeArgs, nodeFlagOptions, readNodeFlags } from '../shared/node-flags.js';
import { portFlag } from '../shared/port-flag.js';
import { createNotifyBackend } from './notify-backend.js';

/*
 * `npm run example -- pushca-notify`: Pushca's notifications (multicast to a dimension,
 * exclude, findAny, acknowledged push) done by a small backend on 127.0.0.1:8070 and
 * thumbtack in front of it on :7999 holding the clients' WebSockets on /ws. Ctrl-C stops
 * both.
 */
const { values: flags } = parseArgs({
  options: {
    ...nodeFlagOptions,
    'backend-port': { type: 'string', default: '8070' },
  },
});
const node = readNodeFlags(flags);
const backendPort = portFlag(flags, 'backend-port');

const backend = createNotifyBackend({
  controlUrl: `http://127.0.0.1:${node.controlPort}`,
  log: (line) => console.log(`backend: ${line}`),
});
await runBehindThumbtack({
  name: 'pushca-notify',
  backend,
  backendPort,
  // Clients reach /ws through thumbtack; the notification API stays on the backend's port.
  routes: [`*,path_beg=/ws 127.0.0.1:${backendPort},over_http`],
  controlPort: node.controlPort,
  thumbtackArgs: nodeArgs(node),
});

const api = `http://127.0.0.1:${backendPort}`;
console.log(
  `ready: ws://127.0.0.1:${node.port}/ws?workspace=acme&account=alice&device=phone&application=mail\n` +
    `  curl -d '{"filter":{"account":"alice"},"message":"hi"}' ${api}/send-notification\n` +
    `  curl -d '{"client":"acme/alice/phone/mail","message":"ack me"}' ${api}/send-notification-with-acknowledge`,
);
