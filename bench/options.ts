import os from 'node:os';
import type { SutName } from './sut/sut.js';

export const workloadNames = [
  'proxy',
  'hold',
  'hold-ws',
  'fanout',
  'channels',
  'ws',
  'zmq',
] as const;
export type WorkloadName = (typeof workloadNames)[number];

/** Every size and switch of a bench run; each has a flag of the same name in kebab-case. */
export type RefForwarderKind = 'raw' | 'undici';

export interface BenchOptions {
  sut: SutName[];
  workloads: WorkloadName[];
  /** Seconds of each timed phase (proxy load, ws echo). */
  duration: number;
  /** Unmeasured seconds of load before the proxy workload measures. */
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
  ws: number;
  wsWindow: number;
  wsBurst: number;
  /** thumbtack proxy workers; 0 = thumbtack's default (one per CPU), raised for large holds. */
  workers: number;
  /** ref processes; 0 = as many as thumbtack has workers, so both use the same cores. */
  refWorkers: number;
  /**
   * How the ref forwards `proxy` requests: raw keep-alive sockets (the floor of forwarding
   * in Node), or undici (the floor of forwarding with the backend client design.md chose).
   */
  refForwarder: RefForwarderKind;
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
  ws: 1_000,
  wsWindow: 1,
  wsBurst: 10,
  workers: 0,
  refWorkers: 0,
  refForwarder: 'raw',
  generators: 0,
  sources: 8,
  connectConcurrency: 128,
  connectRetries: 3,
  openTimeout: 90,
  profile: false,
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
  ws: 200,
};

export const usage = `Usage: npm run bench -- [options]

  --sut LIST               thumbtack,pushpin,ref (default: all; Pushpin only when installed)
  --workloads LIST         ${workloadNames.join(',')} (default: all)
  --quick                  small sizes for development (hold 500, fanout 1000, ...)
  --duration S             seconds per timed phase (${defaults.duration})
  --warmup S               unmeasured load before "proxy" measures (${defaults.warmup})
  --proxy-connections LIST connection counts for "proxy" (${defaults.proxyConnections.join(',')})
  --hold N                 held SSE connections, or WebSockets for hold-ws (${defaults.hold}; 40000 works: sockets are spread)
  --fanout N               subscribers for "fanout", "zmq" (${defaults.fanout})
  --messages M             publishes per fan-out (${defaults.messages})
  --publish-interval MS    pause between fan-out publishes (${defaults.publishInterval})
  --channels N             connections, one channel each, for "channels" (${defaults.channels})
  --channel-rates LIST     publish rate steps, items/s (${defaults.channelRates.join(',')})
  --channel-step S         seconds per rate step (${defaults.channelStep})
  --ws N                   WebSocket clients (${defaults.ws})
  --ws-window W            echo messages in flight per client (${defaults.wsWindow})
  --ws-burst B             messages every client sends at once in the burst phase (${defaults.wsBurst})
  --workers N              thumbtack workers (0: one per CPU, more if a workload needs over 18000 connections per worker)
  --ref-workers N          ref processes (0: as many as thumbtack's workers)
  --ref-forwarder KIND     how the ref forwards "proxy" requests: raw (hand-written keep-alive sockets) or undici (${defaults.refForwarder})
  --generators N           load generator processes (0: auto, 15000 sockets each, min 2)
  --sources N              client source addresses 127.0.0.1..N (${defaults.sources})
  --connect-concurrency N  connection attempts in flight per generator (${defaults.connectConcurrency})
  --connect-retries N      further attempts for a connection that failed to open (${defaults.connectRetries})
  --open-timeout S         bound on opening a workload's connections (${defaults.openTimeout})
  --profile                CPU-profile thumbtack (--cpu-prof) and print the top self-time functions
  --out DIR                results directory (${defaults.out})
`;

export function parseOptions(argv: string[]): BenchOptions {
  const options: BenchOptions = { ...defaults };
  if (argv.includes('--quick')) Object.assign(options, quick);
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--quick') continue;
    if (arg === '--profile') {
      options.profile = true;
      continue;
    }
    const [flag, inline] = arg.split('=', 2);
    const value = inline ?? argv[++i];
    if (!flag.startsWith('--') || value === undefined)
      throw new Error(`bad argument "${arg}"\n\n${usage}`);
    const key = flag
      .slice(2)
      .replace(/-([a-z])/g, (_, c: string) => c.toUpperCase()) as keyof BenchOptions;
    if (!(key in defaults)) throw new Error(`unknown option ${flag}\n\n${usage}`);
    const current = defaults[key];
    if (key === 'sut') {
      options.sut = list(value) as SutName[];
      for (const name of options.sut) {
        if (!['thumbtack', 'pushpin', 'ref'].includes(name))
          throw new Error(`unknown --sut "${name}"`);
      }
    } else if (key === 'refForwarder') {
      if (value !== 'raw' && value !== 'undici')
        throw new Error(`--ref-forwarder must be raw or undici, not "${value}"`);
      options.refForwarder = value;
    } else if (key === 'workloads') {
      options.workloads = list(value) as WorkloadName[];
      for (const name of options.workloads) {
        if (!workloadNames.includes(name)) throw new Error(`unknown workload "${name}"`);
      }
    } else if (Array.isArray(current)) {
      (options[key] as number[]) = list(value).map(positive(flag));
    } else if (typeof current === 'number') {
      (options[key] as number) =
        key === 'publishInterval' ||
        key === 'warmup' ||
        key === 'workers' ||
        key === 'generators' ||
        key === 'refWorkers' ||
        key === 'connectRetries'
          ? nonNegative(flag)(value)
          : positive(flag)(value);
    } else {
      (options[key] as string) = value;
    }
  }
  return options;
}

/** Generator processes needed so that none holds more than 15,000 sockets (limit 20,000). */
export function generatorCount(options: BenchOptions): number {
  if (options.generators > 0) return options.generators;
  const largest = Math.max(
    options.hold,
    options.fanout,
    options.channels,
    options.ws,
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
