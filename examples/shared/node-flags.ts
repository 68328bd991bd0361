import { portFlag } from './port-flag.js';

/*
 * The flags every one-node example takes for thumbtack itself, and the arguments they
 * become: every port on 127.0.0.1, a one-second drain so that Ctrl-C is quick.
 */

/** For parseArgs' `options`, beside the example's own flags. */
export const nodeFlagOptions = {
  port: { type: 'string', default: '7999' },
  'control-port': { type: 'string', default: '5561' },
  'pull-port': { type: 'string', default: '5560' },
  'sub-port': { type: 'string', default: '5562' },
  workers: { type: 'string', default: '2' },
  'log-level': { type: 'string', default: 'warn' },
} as const;

export interface NodeFlags {
  port: number;
  controlPort: number;
  pullPort: number;
  subPort: number;
  workers: string;
  logLevel: string;
}

/** The parsed values of `nodeFlagOptions`; a bad port stops the example (portFlag). */
export function readNodeFlags(values: Record<string, unknown>): NodeFlags {
  return {
    port: portFlag(values, 'port'),
    controlPort: portFlag(values, 'control-port'),
    pullPort: portFlag(values, 'pull-port'),
    subPort: portFlag(values, 'sub-port'),
    workers: String(values.workers),
    logLevel: String(values['log-level']),
  };
}

/** thumbtack's arguments for those flags (all but `--routes` and the example's own). */
export function nodeArgs(flags: NodeFlags): string[] {
  return [
    ...['--host', '127.0.0.1', '--port', String(flags.port)],
    ...['--control-port', String(flags.controlPort)],
    ...['--zmq-pull', `tcp://127.0.0.1:${flags.pullPort}`],
    ...['--zmq-sub', `tcp://127.0.0.1:${flags.subPort}`],
    ...['--workers', flags.workers, '--drain-timeout', '1', '--log-level', flags.logLevel],
  ];
}
