import fs from 'node:fs';
import os from 'node:os';
import { parseCfsQuota, parseCpuMax, workersForCpus } from './cpu-quota.js';

/**
 * Every setting, defined once. Its config-file key is the camelCase name, its flag the
 * kebab-case spelling (`--control-port`) and its environment variable THUMBTACK_ plus the
 * upper snake case (`THUMBTACK_CONTROL_PORT`).
 */
export const settingsSchema = {
  config: { type: 'path', default: '', help: 'JSON config file (keys are the camelCase names)' },
  pushpinConfig: {
    type: 'path',
    default: '',
    help: 'Pushpin pushpin.conf to take settings from; flags, THUMBTACK_* and --config win over it; keys thumbtack cannot take are named in one log line',
  },
  routes: { type: 'path', default: 'config/routes', help: 'Pushpin routes file' },
  routesWatch: {
    type: 'boolean',
    default: false,
    help: 'reload the routes file when it changes, as SIGHUP does (Pushpin watches it too)',
  },
  host: { type: 'host', default: '0.0.0.0', help: 'client listen address (:: for IPv6)' },
  port: { type: 'port', default: 7999, help: 'client HTTP/WebSocket port' },
  healthPort: {
    type: 'port',
    default: 0,
    help: 'serve GET /healthz and /readyz of each proxy worker on this port (0 = off)',
  },
  tlsCert: { type: 'path', default: '', help: 'PEM certificate: serve clients over TLS' },
  tlsKey: { type: 'path', default: '', help: 'PEM private key for --tls-cert' },
  workers: {
    type: 'count',
    default: 0,
    help: 'proxy worker processes (0 = one per CPU this process may use, within its cgroup CPU quota)',
  },
  controlHost: { type: 'host', default: '127.0.0.1', help: 'publish/control HTTP address' },
  controlPort: { type: 'port', default: 5561, help: 'publish/control HTTP port' },
  controlTlsCert: {
    type: 'path',
    default: '',
    help: 'PEM certificate: serve the control API (and --metrics-port) over HTTPS',
  },
  controlTlsKey: { type: 'path', default: '', help: 'PEM private key for --control-tls-cert' },
  controlToken: { type: 'string', default: '', help: 'require Authorization: Bearer <token>' },
  controlJwtKey: {
    type: 'string',
    default: '',
    help: 'require a Bearer JWT (HS256) signed with this key',
  },
  controlReadTimeout: {
    type: 'seconds',
    default: 5,
    help: 'seconds a control API client gets to send a request, headers and body (then 408)',
  },
  controlMaxConnections: {
    type: 'count',
    default: 1000,
    help: 'open control API connections before new ones are refused (0 = no cap)',
  },
  zmqPull: {
    type: 'zmq',
    default: 'tcp://127.0.0.1:5560',
    help: 'ZeroMQ PULL publish input (bound)',
  },
  zmqSub: { type: 'zmq', default: 'tcp://127.0.0.1:5562', help: 'ZeroMQ SUB publish input' },
  zmqSubConnect: {
    type: 'boolean',
    default: false,
    help: "connect the SUB input to publishers' XPUB sockets instead of binding",
  },
  bindAll: {
    type: 'boolean',
    default: false,
    help: 'bind the control port and the ZeroMQ inputs on all interfaces (0.0.0.0) instead of 127.0.0.1, where not given explicitly; for containers',
  },
  redis: {
    type: 'redisUrl',
    default: '',
    help: 'redis://[user:pass@]host:port[/db] (rediss:// for TLS): many nodes share publishes through this Redis',
  },
  redisCluster: {
    type: 'redisNodes',
    default: '',
    help: 'comma list of Redis Cluster seed nodes (host:port): many nodes through sharded pub/sub',
  },
  historySize: {
    type: 'count',
    default: 100,
    help: 'items kept per channel for resume (prev-id, Last-Event-ID); shared through Redis with --redis',
  },
  historyTtl: {
    type: 'seconds',
    default: 300,
    help: 'seconds a published item stays in its channel history',
  },
  historyMaxBytes: {
    type: 'bytes',
    default: 1048576,
    help: "payload bytes kept per channel's history (on this node); the oldest items go first",
  },
  bus: {
    type: 'zmq',
    default: 'tcp://127.0.0.1:5564',
    help: 'internal handler XPUB that proxy workers subscribe to',
  },
  stats: {
    type: 'zmq',
    default: 'tcp://127.0.0.1:5565',
    help: 'internal handler PULL that proxy workers send their figures to (metrics, status page)',
  },
  metrics: {
    type: 'boolean',
    default: true,
    help: 'serve Prometheus metrics at GET /metrics on the control port',
  },
  metricsPort: {
    type: 'port',
    default: 0,
    help: 'also serve GET /metrics on this port of its own, on the control host (0 = off)',
  },
  statusPage: {
    type: 'boolean',
    default: true,
    help: 'serve the live status page at GET /status (and /status.json) on the control port',
  },
  backendTimeout: {
    type: 'seconds',
    default: 30,
    help: 'seconds to wait for a backend response head',
  },
  drainTimeout: {
    type: 'seconds',
    default: 10,
    help: 'SIGTERM: seconds over which held clients are told to reconnect and in-flight requests may finish',
  },
  xForwardedFor: {
    type: 'enum',
    values: ['append', 'replace', 'off'],
    default: 'append',
    help: 'X-Forwarded-For handling',
  },
  trustedProxies: {
    type: 'addresses',
    default: '',
    help: 'comma list of peer IPs whose X-Forwarded-* headers are kept',
  },
  xForwardedProto: { type: 'boolean', default: true, help: 'set X-Forwarded-Proto to http/https' },
  sigKey: {
    type: 'string',
    default: 'changeme',
    help: 'default Grip-Sig key for GRIP routes (route sig_key overrides)',
  },
  sigIss: { type: 'string', default: 'pushpin', help: 'default Grip-Sig issuer' },
  upstreamKey: {
    type: 'string',
    default: '',
    help: "Pushpin's upstream_key: a request whose Grip-Sig verifies against it comes from an upstream GRIP proxy, which gets the backend's GRIP answers untouched (sig_key syntax)",
  },
  streamBufferMax: {
    type: 'bytes',
    default: 1048576,
    help: 'bytes buffered for a slow client before it is disconnected',
  },
  subscriptionMax: { type: 'count', default: 20, help: 'channels per connection' },
  maxConnections: {
    type: 'count',
    default: 0,
    help: 'client connections per worker before it stops accepting (0 = its open-files limit less a 5 % reserve)',
  },
  publishBodyMax: {
    type: 'bytes',
    default: 1000000,
    help: 'largest POST /publish/ body, and largest ZeroMQ publish message (a sender past it is disconnected)',
  },
  wsMaxMessageSize: {
    type: 'bytes',
    default: 1048576,
    help: 'largest WebSocket message a client may send; bigger ones close it with 1009 (over twice this, uWS drops the connection)',
  },
  wsIdleTimeout: {
    type: 'count',
    default: 120,
    help: 'seconds a WebSocket client may stay silent before it is dropped (0 = never; 8-960)',
  },
  wsPing: {
    type: 'boolean',
    default: true,
    help: 'ping idle WebSocket clients so live ones never reach --ws-idle-timeout',
  },
  wsBufferMax: {
    type: 'bytes',
    default: 1048576,
    help: 'bytes buffered for one WebSocket (to a slow client, or queued for its backend) before it is closed with 1008',
  },
  wsCompression: {
    type: 'boolean',
    default: false,
    help: 'offer permessage-deflate to WebSocket clients',
  },
  wsRetryMax: {
    type: 'count',
    default: 5,
    help: 'WebSocket-over-HTTP retries of a request the backend did not receive',
  },
  wsRetryDelay: {
    type: 'seconds',
    default: 1,
    help: 'first WebSocket-over-HTTP retry delay in seconds; doubles per retry, plus up to as much jitter',
  },
  subscriptionLinger: {
    type: 'count',
    default: 60,
    help: "seconds a channel stays subscribed after its last long-poll left, as long-polls come back (Pushpin's subscription_linger; 0 = none)",
  },
  connectionMaxLifetime: {
    type: 'count',
    default: 0,
    help: 'seconds a held connection (stream, long-poll, WebSocket) may live before it is asked to reconnect (0 = no limit; route max_lifetime= overrides)',
  },
  connectionLifetimeDither: {
    type: 'count',
    default: 0,
    help: 'up to this many seconds, random per connection, added to its lifetime so that reconnects spread out',
  },
  closeGrace: {
    type: 'count',
    default: 0,
    help: "seconds a WebSocket or SSE client at its lifetime has to close by itself after a go-away notice (Zuul Push's `_CLOSE_`) before it is closed (0 = no notice, closed at once)",
  },
  accessLogClient: {
    type: 'boolean',
    default: true,
    help: "the access line names the client's address and user agent (--no-access-log-client leaves them out)",
  },
  logLevel: {
    type: 'enum',
    values: ['fatal', 'error', 'warn', 'info', 'debug', 'trace'],
    default: 'info',
    help: 'log level',
  },
} as const satisfies Record<string, SettingSpec>;

/**
 * The defaults `--bind-all` swaps in: the control port and the bound ZeroMQ inputs on every
 * IPv4 interface, where a container's published ports reach them. A SUB input that
 * connects (`--zmq-sub-connect`) keeps its address, which names a publisher.
 */
export const bindAllDefaults = {
  controlHost: '0.0.0.0',
  zmqPull: 'tcp://0.0.0.0:5560',
  zmqSub: 'tcp://0.0.0.0:5562',
} as const satisfies Partial<Record<keyof typeof settingsSchema, string>>;

export type SettingType =
  | 'path'
  | 'host'
  | 'port'
  | 'count'
  | 'string'
  | 'zmq'
  | 'boolean'
  | 'seconds'
  | 'enum'
  | 'addresses'
  | 'bytes'
  | 'redisUrl'
  | 'redisNodes';

export interface SettingSpec {
  type: SettingType;
  default: string | number | boolean;
  help: string;
  values?: readonly string[];
}

type Schema = typeof settingsSchema;
type ValueOf<S extends SettingSpec> = S['type'] extends 'port' | 'count' | 'seconds' | 'bytes'
  ? number
  : S['type'] extends 'boolean'
    ? boolean
    : S['type'] extends 'addresses'
      ? string[]
      : string;

export type Settings = { -readonly [K in keyof Schema]: ValueOf<Schema[K]> };
export type SettingName = keyof Schema;

export function flagName(key: string): string {
  return key.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase());
}

export function envName(key: string): string {
  return 'THUMBTACK_' + key.replace(/[A-Z]/g, (c) => '_' + c).toUpperCase();
}

/**
 * One worker per CPU this process may use: the cores it may run on (affinity), capped by
 * the CPU quota of its cgroup (Docker `--cpus`, a Kubernetes CPU limit). Docker and
 * Kubernetes mount the container's own cgroup at /sys/fs/cgroup: v2's `cpu.max`, else v1's
 * `cpu/cpu.cfs_quota_us`.
 */
export function defaultWorkers(): number {
  const cpuMax = readOptional('/sys/fs/cgroup/cpu.max');
  const cfsQuota = readOptional('/sys/fs/cgroup/cpu/cpu.cfs_quota_us');
  const cfsPeriod = readOptional('/sys/fs/cgroup/cpu/cpu.cfs_period_us');
  const cpus =
    cpuMax !== undefined
      ? parseCpuMax(cpuMax)
      : cfsQuota !== undefined && cfsPeriod !== undefined
        ? parseCfsQuota(cfsQuota, cfsPeriod)
        : undefined;
  return workersForCpus(os.availableParallelism(), cpus);
}

function readOptional(file: string): string | undefined {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
}
