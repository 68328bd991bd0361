import { parseArgs } from 'node:util';
import { runBehindThumbtack } from '../shared/backend-behind-thumbtack.js';
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
    port: { type: 'string', default: '7999' },
    'control-port': { type: 'string', default: '5561' },
    'pull-port': { type: 'string', default: '5560' },
    'sub-port': { type: 'string', default: '5562' },
    'backend-port': { type: 'string', default: '8070' },
    workers: { type: 'string', default: '2' },
    'log-level': { type: 'string', default: 'warn' },
  },
});
const port = (name: keyof typeof flags): number => portFlag(flags, name);
const local = (name: keyof typeof flags): string => `127.0.0.1:${port(name)}`;

const backend = createNotifyBackend({
  controlUrl: `http://${local('control-port')}`,
  log: (line) => console.log(`backend: ${line}`),
});
await runBehindThumbtack({
  name: 'pushca-notify',
  backend,
  backendPort: port('backend-port'),
  // Clients reach /ws through thumbtack; the notification API stays on the backend's port.
  routes: [`*,path_beg=/ws ${local('backend-port')},over_http`],
  controlPort: port('control-port'),
  thumbtackArgs: [
    ...['--host', '127.0.0.1', '--port', String(port('port'))],
    ...['--control-port', String(port('control-port'))],
    ...['--zmq-pull', `tcp://${local('pull-port')}`, '--zmq-sub', `tcp://${local('sub-port')}`],
    ...['--workers', flags.workers, '--drain-timeout', '1', '--log-level', flags['log-level']],
  ],
});

const api = `http://${local('backend-port')}`;
console.log(
  `ready: ws://127.0.0.1:${port('port')}/ws?workspace=acme&account=alice&device=phone&application=mail\n` +
    `  curl -d '{"filter":{"account":"alice"},"message":"hi"}' ${api}/send-notification\n` +
    `  curl -d '{"client":"acme/alice/phone/mail","message":"ack me"}' ${api}/send-notification-with-acknowledge`,
);
