import os from 'node:os';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { sutNames, type SutName } from './sut/sut.js';

export const workloadNames = [
  'proxy',
  'hold',
  'hold-ws',
  'fanout',
  'channels',
  'ws',
  'zmq',
  'direct',
  'nodes',
] as const;
export type WorkloadName = (typeof workloadNames)[number];

/** How the ref forwards `proxy` requests (see BenchOptions.refForwarder). */
export const refForwarderKinds = ['raw', 'undici'] as const;
export type RefForwarderKind = (typeof refForwarderKinds)[number];

/** Where the ref's `ws` echo comes from (see BenchOptions.refWsEcho). */
export const refWsEchoKinds = ['local', 'backend'] as const;
export type RefWsEchoKind = (typeof refWsEchoKinds)[number];

/** What generates the `proxy` workload's requests (see BenchOptions.proxyGenerator). */
export const proxyGeneratorKinds = ['auto', 'wrk', 'node'] as const;
export type ProxyGeneratorKind = (typeof proxyGeneratorKinds)[number];

/** Every size and switch of a bench run; each has a flag of the same name in kebab-case. */

export interface BenchOptions {
  sut: SutName[];
  workloads: WorkloadName[];
  /** Seconds of each timed phase (proxy load, ws echo). */
  duration: number;
  /** Unmeasured seconds of load before the proxy and direct workloads measure. */
  warmup: number;
  proxyConnections: number[];
  hold: number;
  fanout: number;
  messages: number;
  /** Milliseconds between two fan-out publishes (0: each as soon as the previous is answered). */
  publishInterval: number;
  channels: number;
  channelRates: number[];
  /** Seconds per channel-rate step. */
  channelStep: number;
  /** SSE connections for `direct`, each sent publishes addressed to it alone. */
  direct: number;
  /** `direct` publish rate steps, publishes/s, each one item with a receipt. */
  directRates: number[];
  /** Seconds per direct-rate step. */
  directStep: number;
  ws: number;
  wsWindow: number;
  wsBurst: number;
  /** Subscribers for `nodes`, half on each of the two nodes (and all on the single node). */
  nodeSubscribers: number;
  /** Proxy workers per node in the two-node run of `nodes` (the single node gets `workers`). */
  nodeWorkers: number;
  /** thumbtack proxy workers; 0 = thumbtack's default (one per CPU), raised for large holds. */
  workers: number;
  /** ref processes; 0 = as many as thumbtack has workers, so both use the same cores. */
  refWorkers: number;
  /**
   * How the ref forwards `proxy` requests: raw keep-alive sockets (the floor of forwarding
   * in Node), or undici (the floor of forwarding with the backend client thumbtack uses).
   */
  refForwarder: RefForwarderKind;
  /**
   * Where the ref's `ws` echo comes from: uWS echoing locally (the limit of a WebSocket in
   * Node + uWS), or the backend, each message batch POSTed as WebSocket-over-HTTP events
   * through an undici Pool: the round trip thumbtack's `over_http` route makes.
   */
  refWsEcho: RefWsEchoKind;
  /**
   * What sends the `proxy` requests: wrk (a C program: more of the shared CPU is left to the
   * system under test), the Node generators, or `auto`: wrk when installed.
   */
  proxyGenerator: ProxyGeneratorKind;
  /** Load generator processes; 0 = enough for 15,000 sockets each, at least 2. */
  generators: number;
  /** Source addresses 127.0.0.1 … 127.0.0.N for client sockets. */
  sources: number;
  /** Connection attempts in flight per generator. */
  connectConcurrency: number;
  /** Further attempts for a connection that failed to open (a client would reconnect). */
  connectRetries: number;
  /** Seconds allowed to open all connections of a workload. */
  openTimeout: number;
  /** Write CPU profiles of thumbtack's processes and summarise them. */
  profile: boolean;
  /** `fanout` on thumbtack: measure again with a receipt on every publish, in the same run. */
  receipts: boolean;
  out: string;
}

export const defaults: BenchOptions = {
  sut: ['thumbtack', 'pushpin', 'ref'],
  workloads: [...workloadNames],
  duration: 5,
  warmup: 1,
  proxyConnections: [64, 256],
  hold: 10_000,
  fanout: 10_000,
  messages: 20,
  publishInterval: 0,
  channels: 1_000,
  channelRates: [10_000, 20_000, 30_000, 40_000, 50_000, 60_000],
  channelStep: 3,
  direct: 10_000,
  directRates: [1_000, 2_000, 5_000, 10_000, 20_000],
  directStep: 3,
  ws: 1_000,
  wsWindow: 1,
  wsBurst: 10,
  nodeSubscribers: 10_000,
  nodeWorkers: 1,
  workers: 0,
  refWorkers: 0,
  refForwarder: 'raw',
  refWsEcho: 'local',
  proxyGenerator: 'auto',
  generators: 0,
  sources: 8,
  connectConcurrency: 128,
  connectRetries: 3,
  openTimeout: 90,
  profile: false,
  receipts: false,
  out: 'bench/results',
};

/** `--quick`: development sizes that leave the machine usable for others. */
const quick: Partial<BenchOptions> = {
  duration: 2,
  hold: 500,
  fanout: 1_000,
  messages: 10,
  channels: 200,
  channelRates: [2_000, 5_000],
  channelStep: 2,
  direct: 500,
  directRates: [500, 1_000],
  directStep: 2,
  ws: 200,
  nodeSubscribers: 1_000,
};

export const usage = `Usage: npm run bench -- [options]

  --sut LIST               thumbtack,pushpin,ref (default: all; Pushpin only when installed)
  --workloads LIST         ${workloadNames.join(',')} (default: all)
  --quick                  small sizes for development (hold 500, fanout 1000, ...)
  --duration S             seconds per timed phase (${defaults.duration})
  --warmup S               unmeasured load before "proxy" and "direct" measure (${defaults.warmup})
  --proxy-connections LIST connection counts for "proxy" (${defaults.proxyConnections.join(',')})
  --hold N                 held SSE connections, or WebSockets for hold-ws (${defaults.hold}; 40000 works: sockets are spread)
  --fanout N               subscribers for "fanout", "zmq" (${defaults.fanout})
  --messages M             publishes per fan-out (${defaults.messages})
  --publish-interval MS    pause between fan-out publishes (${defaults.publishInterval})
  --channels N             connections, one channel each, for "channels" (${defaults.channels})
  --channel-rates LIST     publish rate steps, items/s (${defaults.channelRates.join(',')})
  --channel-step S         seconds per rate step (${defaults.channelStep})
  --direct N               SSE connections for "direct", each published to by its id (${defaults.direct})
  --direct-rates LIST      "direct" rate steps, publishes/s, one item with ?receipt each (${defaults.directRates.join(',')})
  --direct-step S          seconds per direct-rate step (${defaults.directStep})
  --ws N                   WebSocket clients (${defaults.ws})
  --ws-window W            echo messages in flight per client (${defaults.wsWindow})
  --ws-burst B             messages every client sends at once in the burst phase (${defaults.wsBurst})
  --node-subscribers N     subscribers for "nodes": all on one node, then half on each of two (${defaults.nodeSubscribers})
  --node-workers N         proxy workers per node in the two-node run of "nodes" (${defaults.nodeWorkers})
  --workers N              thumbtack workers (0: one per CPU, more if a workload needs over 18000 connections per worker)
  --ref-workers N          ref processes (0: as many as thumbtack's workers)
  --ref-forwarder KIND     how the ref forwards "proxy" requests: raw (hand-written keep-alive sockets) or undici (${defaults.refForwarder})
  --ref-ws-echo KIND       where the ref's "ws" echo comes from: local (uWS echoes) or backend (WebSocket-over-HTTP through undici, as thumbtack) (${defaults.refWsEcho})
  --proxy-generator KIND   what sends "proxy" requests: wrk, node, or auto (wrk when installed) (${defaults.proxyGenerator})
  --generators N           load generator processes (0: auto, 15000 sockets each, min 2)
  --sources N              client source addresses 127.0.0.1..N (${defaults.sources})
  --connect-concurrency N  connection attempts in flight per generator (${defaults.connectConcurrency})
  --connect-retries N      further attempts for a connection that failed to open (${defaults.connectRetries})
  --open-timeout S         bound on opening a workload's connections (${defaults.openTimeout})
  --profile                CPU-profile thumbtack (--cpu-prof) and print the top self-time functions
  --receipts               "fanout" on thumbtack: 16 more rounds, interleaved without and with ?receipt
  --out DIR                results directory (${defaults.out})
`;

/** The flag of a `BenchOptions` key: `proxyConnections` → `proxy-connections`. */
const flagName = (key: string) => key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);

const keys = Object.keys(defaults) as (keyof BenchOptions)[];

/** `--quick` and one flag per option: a switch for booleans, a value for the rest. */
const flags: NonNullable<ParseArgsConfig['options']> = { quick: { type: 'boolean' } };
for (const key of keys)
  flags[flagName(key)] = { type: typeof defaults[key] === 'boolean' ? 'boolean' : 'string' };

/** Numeric options where 0 is meaningful (none, or automatic); the others must be > 0. */
const zeroAllowed: (keyof BenchOptions)[] = [
  'publishInterval',
  'warmup',
  'workers',
  'generators',
  'refWorkers',
  'connectRetries',
];

/** Defaults, then the `--quick` sizes, then every flag given (so flags override `--quick`). */
export function parseOptions(argv: string[]): BenchOptions {
  let values: ReturnType<typeof parseArgs>['values'];
  try {
    ({ values } = parseArgs({ args: argv, options: flags, strict: true }));
  } catch (err) {
    throw new Error(`${(err as Error).message}\n\n${usage}`, { cause: err });
  }
  const options: BenchOptions = { ...defaults, ...(values.quick ? quick : {}) };
  for (const key of keys) {
    const value = values[flagName(key)];
    if (value !== undefined)
      Object.assign(options, {
        [key]: typeof value === 'string' ? convert(key, value) : value,
      });
  }
  return options;
}

/** The value of option `key` given as `value` on the command line; throws if invalid. */
function convert(key: keyof BenchOptions, value: string): BenchOptions[keyof BenchOptions] {
  const flag = `--${flagName(key)}`;
  const current = defaults[key];
  if (key === 'sut') {
    return list(value).map((name) => {
      if (!(sutNames as readonly string[]).includes(name))
        throw new Error(`unknown --sut "${name}"`);
      return name as SutName;
    });
  }
  if (key === 'workloads') {
    return list(value).map((name) => {
      if (!(workloadNames as readonly string[]).includes(name))
        throw new Error(`unknown workload "${name}"`);
      return name as WorkloadName;
    });
  }
  if (key === 'refForwarder') {
    if (!(refForwarderKinds as readonly string[]).includes(value))
      throw new Error(`--ref-forwarder must be ${refForwarderKinds.join(' or ')}, not "${value}"`);
    return value as RefForwarderKind;
  }
  if (key === 'refWsEcho') {
    if (!(refWsEchoKinds as readonly string[]).includes(value))
      throw new Error(`--ref-ws-echo must be ${refWsEchoKinds.join(' or ')}, not "${value}"`);
    return value as RefWsEchoKind;
  }
  if (key === 'proxyGenerator') {
    if (!(proxyGeneratorKinds as readonly string[]).includes(value))
      throw new Error(
        `--proxy-generator must be ${proxyGeneratorKinds.join(', ')}, not "${value}"`,
      );
    return value as ProxyGeneratorKind;
  }
  if (typeof current === 'string') return value;
  if (Array.isArray(current)) return list(value).map(positive(flag));
  return (zeroAllowed.includes(key) ? nonNegative : positive)(flag)(value);
}

/** Generator processes needed so that none holds more than 15,000 sockets (limit 20,000). */
export function generatorCount(options: BenchOptions): number {
  if (options.generators > 0) return options.generators;
  const largest = Math.max(
    options.hold,
    options.fanout,
    options.channels,
    options.direct,
    options.ws,
    options.nodeSubscribers,
    ...options.proxyConnections,
  );
  return Math.max(2, Math.ceil(largest / 15_000));
}

export function sourceAddresses(options: BenchOptions): string[] {
  return Array.from({ length: Math.min(254, options.sources) }, (_, i) => `127.0.0.${i + 1}`);
}

/**
 * thumbtack workers for `connections` held at once: `--workers` when given, else one per
 * CPU raised to at most 18,000 connections per worker (the open-files limit is 20,000).
 */
export function workersFor(options: BenchOptions, connections: number): number {
  if (options.workers > 0) return options.workers;
  return Math.max(os.availableParallelism(), Math.ceil(connections / 18_000));
}

function list(value: string): string[] {
  return value
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
}

function positive(flag: string): (value: string) => number {
  return (value) => {
    const n = Number(value);
    if (!Number.isFinite(n) || n <= 0)
      throw new Error(`${flag} wants a positive number, not "${value}"`);
    return n;
  };
}

function nonNegative(flag: string): (value: string) => number {
  return (value) => {
    const n = Number(value);
    if (!Number.isFinite(n) || n < 0) throw new Error(`${flag} wants a number ≥ 0, not "${value}"`);
    return n;
  };
}
