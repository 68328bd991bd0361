import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { ConfigError } from '../errors.js';
import { MAX_TIMER_SECONDS } from '../timer-limit.js';
import {
  pushpinSource,
  readPushpinConf,
  settlePushpinConf,
  type PushpinConfIgnored,
} from './pushpin-conf-load.js';
import {
  bindAllDefaults,
  defaultWorkers,
  envName,
  flagName,
  settingsSchema,
  type SettingName,
  type Settings,
  type SettingSpec,
} from './schema.js';

const names = Object.keys(settingsSchema) as SettingName[];

/** Flags accepted by every command, in util.parseArgs form. */
function parseOptions(): Record<string, { type: 'string' | 'boolean' }> {
  const options: Record<string, { type: 'string' | 'boolean' }> = {};
  for (const name of names) {
    options[flagName(name)] = {
      type: settingsSchema[name].type === 'boolean' ? 'boolean' : 'string',
    };
    if (settingsSchema[name].type === 'boolean')
      options['no-' + flagName(name)] = { type: 'boolean' };
  }
  return options;
}

export interface LoadedArgs {
  settings: Settings;
  positionals: string[];
  /** pushpin.conf keys without effect, for the runner to log once. */
  pushpinIgnored?: PushpinConfIgnored;
}

/**
 * Resolves settings from flags, then THUMBTACK_* environment variables, then the config
 * file, then pushpin.conf, then defaults. Relative paths in a file are relative to its
 * folder. Throws ConfigError naming the setting (flag, variable, or file and key), the value
 * and what is allowed.
 */
export function loadSettings(
  argv: string[],
  env: NodeJS.ProcessEnv = process.env,
  extraOptions: Record<string, { type: 'string' | 'boolean'; short?: string }> = {},
): LoadedArgs & { extra: Record<string, string | boolean | undefined> } {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      options: { ...parseOptions(), ...extraOptions },
      allowPositionals: true,
      strict: true,
    });
  } catch (err) {
    throw new ConfigError(`${(err as Error).message}; see --help`);
  }
  const flags = parsed.values as Record<string, string | boolean | undefined>;
  const raw = new Map<SettingName, { value: unknown; source: string }>();

  const configPath =
    (flags['config'] as string | undefined) ??
    env[envName('config')] ??
    settingsSchema.config.default;
  const fromConfig = new Map<SettingName, { value: unknown; source: string }>();
  if (configPath) {
    const dir = path.dirname(path.resolve(configPath));
    for (const [key, value] of Object.entries(readConfigFile(configPath))) {
      if (!Object.hasOwn(settingsSchema, key)) {
        throw new ConfigError(
          `${configPath}: unknown setting "${key}"; allowed: ${names.join(', ')}`,
        );
      }
      fromConfig.set(key as SettingName, {
        value: relativeTo(dir, key as SettingName, value),
        source: `${configPath}: ${key}`,
      });
    }
  }
  const pushpinPath =
    (flags[flagName('pushpinConfig')] as string | undefined) ??
    nonEmpty(env[envName('pushpinConfig')]) ??
    asString(fromConfig.get('pushpinConfig')?.value);
  const pushpin = pushpinPath ? readPushpinConf(pushpinPath) : undefined;
  if (pushpin) {
    for (const [name, mapped] of Object.entries(pushpin.mapping.settings)) {
      const source = pushpinSource(pushpin, mapped.key);
      // Checked now, so a bad value is reported even when a flag overrides it.
      coerce(settingsSchema[name as SettingName], mapped.value, source);
      raw.set(name as SettingName, { value: mapped.value, source });
    }
  }
  for (const [name, given] of fromConfig) raw.set(name, given);
  for (const name of names) {
    const fromEnv = env[envName(name)];
    if (fromEnv !== undefined && fromEnv !== '')
      raw.set(name, { value: fromEnv, source: envName(name) });
  }
  for (const name of names) {
    const flag = flagName(name);
    if (flags[flag] !== undefined) raw.set(name, { value: flags[flag], source: '--' + flag });
    if (flags['no-' + flag]) raw.set(name, { value: false, source: '--no-' + flag });
  }
  let pushpinIgnored: PushpinConfIgnored | undefined;
  if (pushpin) {
    const givenElsewhere = (name: SettingName): string | undefined => {
      const source = raw.get(name)?.source;
      return source && !source.startsWith(`${pushpin.file}: `) ? source : undefined;
    };
    const workers = (): number => {
      const given = raw.get('workers');
      return (given ? Number(given.value) : 0) || defaultWorkers();
    };
    const settled = settlePushpinConf(pushpin, givenElsewhere, workers);
    pushpinIgnored = settled.ignored;
    if (settled.maxConnections !== undefined) {
      raw.set('maxConnections', {
        value: settled.maxConnections,
        source: pushpinSource(pushpin, '[runner] client_maxconn'),
      });
    }
  }

  const settings = {} as Record<SettingName, unknown>;
  for (const name of names) {
    const spec = settingsSchema[name] as SettingSpec;
    const given = raw.get(name);
    settings[name] = given
      ? coerce(spec, given.value, given.source)
      : coerce(spec, spec.default, `default of ${name}`);
  }
  const result = settings as Settings;
  if (result.bindAll) {
    // Only defaults move: a host or endpoint given anywhere (flag, env, file) stays as given.
    if (!raw.has('controlHost')) result.controlHost = bindAllDefaults.controlHost;
    if (!raw.has('zmqPull')) result.zmqPull = bindAllDefaults.zmqPull;
    if (!raw.has('zmqSub') && !result.zmqSubConnect) result.zmqSub = bindAllDefaults.zmqSub;
  }
  // Named by where each was given, so a value from a file points at the file and key.
  const named = (name: SettingName): string => raw.get(name)?.source ?? '--' + flagName(name);
  if (result.redis && result.redisCluster) {
    throw new ConfigError(
      `${named('redis')} and ${named('redisCluster')} cannot be given together; choose one`,
    );
  }
  if (Boolean(result.tlsCert) !== Boolean(result.tlsKey)) {
    throw new ConfigError(`${named('tlsCert')} and ${named('tlsKey')} must be given together`);
  }
  if (Boolean(result.controlTlsCert) !== Boolean(result.controlTlsKey)) {
    throw new ConfigError(
      `${named('controlTlsCert')} and ${named('controlTlsKey')} must be given together`,
    );
  }
  const extra: Record<string, string | boolean | undefined> = {};
  for (const key of Object.keys(extraOptions)) extra[key] = flags[key];
  return {
    settings: result,
    positionals: parsed.positionals,
    extra,
    ...(pushpinIgnored && { pushpinIgnored }),
  };
}

function nonEmpty(text: string | undefined): string | undefined {
  return text === '' ? undefined : text;
}

/** Anything but a string is left for coerce() to report with its file and key. */
function asString(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

/**
 * A path in a config file is relative to the file's folder (as Pushpin's routesfile is to
 * pushpin.conf), not to wherever thumbtack was started; so is a `file:` signing key.
 */
function relativeTo(dir: string, name: SettingName, value: unknown): unknown {
  if (typeof value !== 'string' || value === '') return value;
  if (settingsSchema[name].type === 'path') return path.resolve(dir, value);
  if (name === 'sigKey' && value.startsWith('file:')) {
    return `file:${path.resolve(dir, value.slice('file:'.length))}`;
  }
  return value;
}

function readConfigFile(path: string): Record<string, unknown> {
  let text: string;
  try {
    text = fs.readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError(`config: cannot read "${path}": ${(err as NodeJS.ErrnoException).code}`);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new ConfigError(`config: "${path}" is not valid JSON: ${(err as Error).message}`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new ConfigError(`config: "${path}" must hold a JSON object of settings`);
  }
  return value as Record<string, unknown>;
}

function coerce(spec: SettingSpec, value: unknown, source: string): unknown {
  const bad = (allowed: string): never => {
    throw new ConfigError(`${source}: bad value ${JSON.stringify(value)}; allowed: ${allowed}`);
  };
  const text = typeof value === 'string' ? value.trim() : value;
  switch (spec.type) {
    case 'port': {
      const n = Number(text);
      if (text === '' || !Number.isInteger(n) || n < 0 || n > 65535) bad('an integer port 0-65535');
      return n;
    }
    case 'count':
    case 'bytes': {
      const n = Number(text);
      if (text === '' || !Number.isInteger(n) || n < 0) bad('an integer >= 0');
      return n;
    }
    case 'seconds': {
      const n = Number(text);
      if (text === '' || !Number.isFinite(n) || n <= 0 || n > MAX_TIMER_SECONDS) {
        bad(`a number of seconds > 0 and <= ${MAX_TIMER_SECONDS}`);
      }
      return n;
    }
    case 'boolean': {
      if (typeof text === 'boolean') return text;
      if (text === 'true' || text === '1' || text === 'yes') return true;
      if (text === 'false' || text === '0' || text === 'no') return false;
      return bad('true or false');
    }
    case 'enum':
      if (typeof text !== 'string' || !spec.values?.includes(text)) bad(spec.values!.join(', '));
      return text;
    case 'host':
      if (typeof text !== 'string' || (net.isIP(text) === 0 && !/^[A-Za-z0-9.-]+$/.test(text))) {
        bad('an IPv4/IPv6 address or host name');
      }
      return text;
    case 'zmq':
      if (
        typeof text !== 'string' ||
        !/^(tcp:\/\/[^\s]+:\d+|ipc:\/\/\S+|inproc:\/\/\S+)$/.test(text)
      ) {
        bad('a ZeroMQ endpoint such as tcp://127.0.0.1:5560 or ipc:///path');
      }
      return text;
    case 'addresses': {
      if (typeof text !== 'string') bad('a comma-separated list of IP addresses');
      const addresses = (text as string)
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean);
      if (addresses.some((address) => net.isIP(address) === 0)) {
        bad('a comma-separated list of IP addresses');
      }
      return addresses;
    }
    case 'redisUrl':
      if (typeof text !== 'string' || (text !== '' && !isRedisUrl(text))) {
        bad('redis://[user:password@]host:port[/db] or rediss://... (empty: no Redis)');
      }
      return text;
    case 'redisNodes': {
      if (typeof text !== 'string') bad('a comma-separated list of host:port');
      const nodes = (text as string)
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean);
      if (
        nodes.some((node) => !/^[A-Za-z0-9.-]+:\d{1,5}$|^\[[0-9A-Fa-f:.]+\]:\d{1,5}$/.test(node))
      ) {
        bad('a comma-separated list of host:port');
      }
      return nodes.join(',');
    }
    case 'path':
    case 'string':
      if (typeof text !== 'string') bad('a string');
      return text;
  }
}

/** A URL ioredis can connect to; the database, when given, is a number. */
function isRedisUrl(text: string): boolean {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return false;
  }
  if (url.protocol !== 'redis:' && url.protocol !== 'rediss:') return false;
  if (!url.hostname || url.search || url.hash) return false;
  return /^(\/\d*)?$/.test(url.pathname);
}
