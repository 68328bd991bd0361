import path from 'node:path';
import { ConfigError } from '../errors.js';
import type { PushpinConf } from './pushpin-conf.js';
import type { SettingName } from './schema.js';

/** A setting taken from pushpin.conf, with where it came from (`[runner] http_port`). */
export interface MappedSetting {
  value: string | number | boolean;
  key: string;
}

/** A pushpin.conf key thumbtack does not take, and why. */
export interface PushpinConfNote {
  key: string;
  reason: string;
  /**
   * For a refusal: a setting that, given by a flag, the environment or --config, makes the
   * refused key moot (the user has said what thumbtack should do instead).
   */
  overriddenBy?: SettingName[];
}

export interface PushpinConfMapping {
  settings: Partial<Record<SettingName, MappedSetting>>;
  /**
   * `[runner] client_maxconn` caps the whole node in Pushpin; thumbtack's cap is per worker,
   * so the caller divides it once the worker count is known.
   */
  nodeConnections?: MappedSetting;
  ignored: PushpinConfNote[];
  refused: PushpinConfNote[];
}

interface RuleContext {
  value: string;
  set(name: SettingName, value: string | number | boolean): void;
  ignore(reason: string): void;
  refuse(reason: string, overriddenBy?: SettingName[]): void;
  bad(allowed: string): never;
  mapping: PushpinConfMapping;
  /** The folder of pushpin.conf: Pushpin resolves relative paths against it. */
  dir: string;
  portOffset: number;
  /** Entries of http_port and https_ports together. */
  listenerCount: number;
}

type Rule = (ctx: RuleContext) => void;

const INTERNAL =
  "Pushpin's wiring between its own processes; thumbtack's processes talk over private sockets";
const NO_PROGRAMS = 'thumbtack starts no external programs (condure, mongrel2, zurl)';
const NO_ZMQ_STATS =
  'no ZeroMQ stats socket: figures are at GET /metrics and /status.json on the control port';
const ONE_PORT = 'thumbtack listens on one client port, plain or TLS; run one instance per port';
const NO_PHONE_HOME = 'thumbtack never checks for updates or reports usage';
const NO_RATE =
  'no global delivery rate limit: a slow client is cut at its own buffer bound (--stream-buffer-max, --ws-buffer-max)';

/** Does nothing: the value asks for what thumbtack does anyway. */
const same = (): void => undefined;
const ignore =
  (reason: string): Rule =>
  (ctx) =>
    ctx.ignore(reason);
/** Taken silently when the value is `expected` (thumbtack's fixed behaviour), else ignored. */
const fixed =
  (expected: string | boolean | number, reason: string): Rule =>
  (ctx) => {
    const given =
      typeof expected === 'boolean'
        ? parseBoolean(ctx)
        : typeof expected === 'number'
          ? Number(ctx.value)
          : ctx.value;
    if (given !== expected) ctx.ignore(reason);
  };
/** Refused unless the value is `expected`. */
const refusedUnless =
  (expected: string | boolean, reason: string, overriddenBy?: SettingName[]): Rule =>
  (ctx) => {
    const given = typeof expected === 'boolean' ? parseBoolean(ctx) : ctx.value;
    if (given !== expected) ctx.refuse(reason, overriddenBy);
  };
const toSetting =
  (name: SettingName): Rule =>
  (ctx) =>
    ctx.set(name, ctx.value);
const toBoolean =
  (name: SettingName): Rule =>
  (ctx) =>
    ctx.set(name, parseBoolean(ctx));
const toCount =
  (name: SettingName): Rule =>
  (ctx) =>
    ctx.set(name, parseCount(ctx));

/** A key in sig_key syntax; Pushpin reads a `file:` key relative to pushpin.conf, thumbtack to its cwd. */
const toKey =
  (name: SettingName): Rule =>
  (ctx) =>
    ctx.set(
      name,
      ctx.value.startsWith('file:')
        ? `file:${path.resolve(ctx.dir, ctx.value.slice('file:'.length))}`
        : ctx.value,
    );

const rules: Record<string, Record<string, Rule>> = {
  global: {
    include: (ctx) => {
      // The packaged file includes {libdir}/internal.conf, which holds only internal specs.
      if (path.basename(ctx.value) === 'internal.conf') ctx.ignore(INTERNAL);
      else ctx.refuse('thumbtack does not read included files; move their settings into this one');
    },
    libdir: ignore('only used to fill in {libdir}'),
    configdir: ignore('only used to fill in {configdir}'),
    rundir: ignore(`${INTERNAL} in the system temporary folder`),
    ipc_prefix: ignore(INTERNAL),
    port_offset: same, // applied to push_in_spec, push_in_sub_specs and push_in_http_port
    stats_connection_ttl: ignore(NO_ZMQ_STATS),
    stats_connection_send: ignore(NO_ZMQ_STATS),
  },
  runner: {
    services: (ctx) => {
      const services = list(ctx.value);
      const has = (name: string) => services.includes(name) || services.includes(`pushpin-${name}`);
      if (has('proxy') && has('handler')) {
        ctx.ignore('thumbtack run always starts its handler and proxy workers, and nothing else');
      } else {
        ctx.refuse(
          'without both proxy and handler, run `thumbtack proxy` or `thumbtack handler` alone',
        );
      }
    },
    http_port: (ctx) => {
      const ports = list(ctx.value);
      if (ports.length === 0) return;
      if (ctx.listenerCount > 1) ctx.refuse(ONE_PORT, ['port']);
      else setListen(ctx, ports[0]!);
    },
    https_ports: (ctx) => {
      const ports = list(ctx.value);
      if (ports.length === 0) return;
      if (ctx.listenerCount > 1) {
        ctx.refuse(ONE_PORT, ['port']);
        return;
      }
      const port = setListen(ctx, ports[0]!);
      // Pushpin's default certificate for a TLS port; certificates named for SNI host
      // names beside it are not served.
      const certs = path.join(ctx.dir, 'runner', 'certs');
      ctx.set('tlsCert', path.join(certs, `default_${port}.crt`));
      ctx.set('tlsKey', path.join(certs, `default_${port}.key`));
    },
    local_ports: (ctx) => {
      if (ctx.value !== '') ctx.refuse('thumbtack does not listen on Unix sockets');
    },
    rundir: ignore(`${INTERNAL} in the system temporary folder`),
    logdir: ignore('thumbtack writes JSON log lines to stdout; let the service manager keep them'),
    log_level: mapLogLevel,
    client_buffer_size: ignore("the request head limit is uWebSockets.js's own"),
    client_maxconn: (ctx) => {
      ctx.mapping.nodeConnections = { value: parseCount(ctx), key: '[runner] client_maxconn' };
    },
    allow_compression: toBoolean('wsCompression'),
    condure_bin: ignore(NO_PROGRAMS),
    connmgr_bin: ignore(NO_PROGRAMS),
    mongrel2_bin: ignore(NO_PROGRAMS),
    m2sh_bin: ignore(NO_PROGRAMS),
    m2adapter_bin: ignore(NO_PROGRAMS),
    zurl_bin: ignore(NO_PROGRAMS),
  },
  proxy: {
    routesfile: (ctx) => ctx.set('routes', path.resolve(ctx.dir, ctx.value)),
    debug: fixed(false, 'no global debug switch yet: give routes the `debug` option'),
    auto_cross_origin: refusedUnless(
      false,
      'not supported yet: thumbtack adds no CORS headers or JSON-P wrapping; the backend must',
    ),
    accept_x_forwarded_protocol: refusedUnless(
      false,
      "thumbtack keeps a client's X-Forwarded-Proto only from --trusted-proxies peers",
      ['trustedProxies'],
    ),
    set_x_forwarded_protocol: (ctx) => {
      if (ctx.value === 'true' || ctx.value === 'proto-only') {
        ctx.set('xForwardedProto', true);
        if (ctx.value === 'true') ctx.ignore('the older X-Forwarded-Protocol header is not set');
      } else if (ctx.value === 'false' || ctx.value === '') {
        ctx.set('xForwardedProto', false);
      } else {
        ctx.bad('true, proto-only or false');
      }
    },
    x_forwarded_for: mapXForwardedFor,
    x_forwarded_for_trusted: (ctx) => {
      if (ctx.value !== '') {
        ctx.ignore(
          'thumbtack trusts X-Forwarded-For by peer address (--trusted-proxies), not by an upstream Grip-Sig',
        );
      }
    },
    orig_headers_need_mark: fixed('', 'not supported yet'),
    accept_pushpin_route: refusedUnless(
      false,
      'not supported yet: the Pushpin-Route header does not pick a route',
    ),
    cdn_loop: fixed('', 'not supported yet: no CDN-Loop header is added'),
    log_from: mapAccessLog,
    log_user_agent: mapAccessLog,
    sig_iss: toSetting('sigIss'),
    sig_key: toKey('sigKey'),
    upstream_key: toKey('upstreamKey'),
    sockjs_url: ignore('no SockJS transport'),
    updates_check: fixed('off', NO_PHONE_HOME),
    organization_name: fixed('', NO_PHONE_HOME),
    max_open_requests: fixed(-1, 'not supported yet: --max-connections caps connections instead'),
    workers: toCount('workers'),
    prometheus_port: mapPrometheusPort,
    prometheus_prefix: fixed('', "metric names are thumbtack's own (README: metrics)"),
    stats_spec: ignore(NO_ZMQ_STATS),
    stats_report_interval: ignore(NO_ZMQ_STATS),
    stats_connections_max_ttl: ignore(NO_ZMQ_STATS),
    command_spec: ignore(INTERNAL),
    ipc_file_mode: ignore(INTERNAL),
  },
  handler: {
    ipc_file_mode: ignore(INTERNAL),
    push_in_spec: (ctx) => {
      if (ctx.value === '') {
        ctx.ignore('thumbtack always binds its ZeroMQ PULL input (--zmq-pull)');
      } else {
        ctx.set('zmqPull', withPortOffset(ctx.value, ctx.portOffset));
      }
    },
    push_in_sub_specs: mapSubSpecs,
    push_in_sub_spec: mapSubSpecs,
    push_in_sub_connect: toBoolean('zmqSubConnect'),
    push_in_http_addr: toSetting('controlHost'),
    push_in_http_port: (ctx) => {
      const port = parsePort(ctx, ctx.value);
      ctx.set('controlPort', port > 0 ? port + ctx.portOffset : port);
    },
    push_in_http_max_headers_size: fixed(10000, 'fixed at 10000 bytes'),
    push_in_http_max_body_size: toCount('publishBodyMax'),
    stats_spec: ignore(NO_ZMQ_STATS),
    command_spec: ignore(
      'no ZeroMQ command socket: the control API has POST /recover and the publish endpoints',
    ),
    message_rate: ignore(NO_RATE),
    message_hwm: ignore(NO_RATE),
    message_block_size: ignore(NO_ZMQ_STATS),
    message_wait: fixed(5000, 'fixed at 5000 ms'),
    id_cache_ttl: fixed(60, 'fixed at 60 s'),
    update_on_first_subscription: ignore(
      'not needed: the handler replays what was published just before a subscription',
    ),
    connection_subscription_max: toCount('subscriptionMax'),
    subscription_linger: toCount('subscriptionLinger'),
    stats_subscription_ttl: ignore(NO_ZMQ_STATS),
    stats_report_interval: ignore(NO_ZMQ_STATS),
    stats_format: ignore(NO_ZMQ_STATS),
    prometheus_port: mapPrometheusPort,
    prometheus_prefix: fixed('', "metric names are thumbtack's own (README: metrics)"),
    share_all: ignore(INTERNAL),
    state_spec: ignore(INTERNAL),
  },
};

/** `condure_in_specs`, `proxy_accept_spec`, ...: Pushpin's internal sockets. */
const internalSpec = /^(condure|connmgr|m2a|zurl|handler|intreq|proxy)_[a-z_]*specs?$/;

/**
 * Maps a parsed pushpin.conf onto thumbtack settings. `file` is the absolute path of the
 * conf file, for messages and for resolving relative paths as Pushpin does. Throws
 * ConfigError naming the file, section and key for a value thumbtack cannot accept.
 */
export function mapPushpinConf(conf: PushpinConf, file: string): PushpinConfMapping {
  const mapping: PushpinConfMapping = { settings: {}, ignored: [], refused: [] };
  const dir = path.dirname(file);
  const global = conf.get('global');
  const portOffsetEntry = global?.get('port_offset');
  const vars: Record<string, string> = {
    '{configdir}': dir,
    '{libdir}': global?.get('libdir')?.value ?? '{libdir}',
    '{rundir}': global?.get('rundir')?.value ?? conf.get('runner')?.get('rundir')?.value ?? '',
    '{ipc_prefix}': global?.get('ipc_prefix')?.value ?? 'pushpin-',
  };
  let portOffset = 0;
  if (portOffsetEntry && portOffsetEntry.value !== '') {
    portOffset = Number(portOffsetEntry.value);
    if (!Number.isInteger(portOffset) || Math.abs(portOffset) > 65535) {
      throw new ConfigError(
        `${file}: [global] port_offset: bad value ${JSON.stringify(portOffsetEntry.value)}; allowed: an integer`,
      );
    }
  }

  const runner = conf.get('runner');
  const listenerCount =
    list(runner?.get('http_port')?.value ?? '').length +
    list(runner?.get('https_ports')?.value ?? '').length;

  for (const [section, entries] of conf) {
    for (const [key, entry] of entries) {
      const where = `[${section}] ${key}`;
      const sectionRules = Object.hasOwn(rules, section) ? rules[section] : undefined;
      const rule =
        (sectionRules && Object.hasOwn(sectionRules, key) ? sectionRules[key] : undefined) ??
        (sectionRules && (section === 'proxy' || section === 'handler') && internalSpec.test(key)
          ? ignore(INTERNAL)
          : undefined);
      if (!rule) {
        mapping.ignored.push({
          key: where,
          reason: sectionRules ? 'not a Pushpin setting' : 'not a Pushpin section',
        });
        continue;
      }
      const value = substitute(entry.value, vars);
      rule({
        value,
        mapping,
        dir,
        portOffset,
        listenerCount,
        set: (name, v) => (mapping.settings[name] = { value: v, key: where }),
        ignore: (reason) => mapping.ignored.push({ key: where, reason }),
        refuse: (reason, overriddenBy) =>
          mapping.refused.push(
            overriddenBy ? { key: where, reason, overriddenBy } : { key: where, reason },
          ),
        bad: (allowed) => {
          throw new ConfigError(
            `${file}: ${where}: bad value ${JSON.stringify(entry.value)}; allowed: ${allowed}`,
          );
        },
      });
    }
  }
  return mapping;
}

function substitute(value: string, vars: Record<string, string>): string {
  return value.replace(/\{(configdir|libdir|rundir|ipc_prefix)\}/g, (name) => vars[name]!);
}

/** Pushpin's list values are comma-separated (QSettings string lists). */
function list(value: string): string[] {
  return value
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
}

function parseBoolean(ctx: RuleContext): boolean {
  const text = ctx.value.toLowerCase();
  if (text === 'true' || text === '1' || text === 'yes' || text === 'on') return true;
  if (text === 'false' || text === '0' || text === 'no' || text === 'off') return false;
  return ctx.bad('true or false');
}

function parseCount(ctx: RuleContext): number {
  const n = Number(ctx.value);
  if (ctx.value === '' || !Number.isInteger(n) || n < 0) ctx.bad('an integer >= 0');
  return n;
}

function parsePort(ctx: RuleContext, text: string): number {
  const n = Number(text);
  if (!/^\d+$/.test(text) || n > 65535) ctx.bad('a port 0-65535, or address:port');
  return n;
}

/** `7999`, `0.0.0.0:7999` or `[::]:7999`: sets port (and host); returns the port. */
function setListen(ctx: RuleContext, item: string): number {
  const match = /^(?:\[([0-9A-Fa-f:.]+)\]|([^:]+)):(\d+)$/.exec(item);
  const port = parsePort(ctx, match ? match[3]! : item);
  ctx.set('port', port);
  const host = match?.[1] ?? match?.[2];
  if (host !== undefined) ctx.set('host', host);
  return port;
}

/** Pushpin levels: 0 error, 1 warning, 2 info, 3 and up debug; `proxy:3` is per process. */
function mapLogLevel(ctx: RuleContext): void {
  const levels = ['error', 'warn', 'info', 'debug'];
  let hasPerProcess = false;
  for (const item of list(ctx.value)) {
    const colon = item.indexOf(':');
    const level = colon === -1 ? item : item.slice(colon + 1).trim();
    if (!/^\d+$/.test(level)) ctx.bad('a level 0-3 (2 = info), or name:level items');
    if (colon === -1) ctx.set('logLevel', levels[Math.min(Number(level), 3)]!);
    else hasPerProcess = true;
  }
  if (hasPerProcess) ctx.ignore('per-process levels: thumbtack has one --log-level');
}

/** Pushpin applies rules in the list: `truncate:N` keeps N forwarded addresses, `append` adds the peer. */
function mapXForwardedFor(ctx: RuleContext): void {
  const items = list(ctx.value);
  let truncate: number | undefined;
  let isAppend = false;
  for (const item of items) {
    if (item === 'append') isAppend = true;
    else if (/^truncate:\d+$/.test(item)) truncate = Number(item.slice('truncate:'.length));
    else ctx.bad('"", append, truncate:0,append (comma list of append and truncate:N)');
  }
  if (truncate === undefined) {
    ctx.set('xForwardedFor', isAppend ? 'append' : 'off');
  } else if (truncate === 0 && isAppend) {
    ctx.set('xForwardedFor', 'replace');
  } else {
    ctx.refuse(
      'thumbtack can append the peer (append), replace the header with it (truncate:0,append) or pass it on (empty); not trim it',
      ['xForwardedFor'],
    );
  }
}

/** Two Pushpin keys, one thumbtack switch: the access line names client address and agent together. */
function mapAccessLog(ctx: RuleContext): void {
  const isOn = parseBoolean(ctx);
  const earlier = ctx.mapping.settings.accessLogClient;
  if (earlier && earlier.value !== isOn) {
    ctx.ignore(
      'thumbtack logs client address and user agent together (--access-log-client); on if either is',
    );
    if (!isOn) return;
  }
  ctx.set('accessLogClient', isOn);
}

/** `1030` or `127.0.0.1:1030`; proxy and handler both scrape as one thumbtack metrics port. */
function mapPrometheusPort(ctx: RuleContext): void {
  if (ctx.value === '') return;
  const match = /^(.*):(\d+)$/.exec(ctx.value);
  const port = parsePort(ctx, match ? match[2]! : ctx.value);
  const earlier = ctx.mapping.settings.metricsPort;
  if (earlier && earlier.value !== port) {
    ctx.ignore(`one metrics port for the whole node: ${earlier.key} is used`);
    return;
  }
  ctx.set('metricsPort', port);
  if (match) ctx.ignore('the address part: metrics are served on --control-host');
}

function mapSubSpecs(ctx: RuleContext): void {
  const specs = list(ctx.value);
  if (specs.length === 0) {
    ctx.ignore('thumbtack always binds or connects its ZeroMQ SUB input (--zmq-sub)');
  } else if (specs.length > 1) {
    ctx.refuse('thumbtack has one ZeroMQ SUB input; give one spec', ['zmqSub']);
  } else {
    ctx.set('zmqSub', withPortOffset(specs[0]!, ctx.portOffset));
  }
}

/** Pushpin adds [global] port_offset to the port of every tcp:// spec. */
function withPortOffset(spec: string, offset: number): string {
  if (offset === 0) return spec;
  return spec.replace(
    /^(tcp:\/\/.*:)(\d+)$/,
    (_all, head: string, port: string) => String(head) + String(Number(port) + offset),
  );
}
