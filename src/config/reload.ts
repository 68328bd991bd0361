import type { Settings, SettingName } from './schema.js';

/*
 * SIGHUP reloads the settings (flags, environment and config file, read again) in every
 * process. A setting that binds a port or socket, or sizes something fixed at start,
 * needs a restart: a reload names it and keeps its old value. Everything else takes
 * effect for the next request, hold or publish; no connection is dropped.
 */
export const restartOnlySettings: ReadonlySet<SettingName> = new Set<SettingName>([
  'config',
  'pushpinConfig',
  'routesWatch',
  'host',
  'port',
  'healthPort',
  'tlsCert',
  'tlsKey',
  'workers',
  'controlHost',
  'bindAll',
  'controlPort',
  'controlTlsCert',
  'controlTlsKey',
  'zmqPull',
  'zmqSub',
  'zmqSubConnect',
  'redis',
  'redisCluster',
  'bus',
  'stats',
  'metricsPort',
  'maxConnections',
  'wsMaxMessageSize',
  'wsIdleTimeout',
  'wsPing',
  'wsCompression',
  'wsBufferMax',
  'wsRetryMax',
  'wsRetryDelay',
]);

/** Settings whose values are secrets: a reload names them, never logs their values. */
const secretSettings: ReadonlySet<SettingName> = new Set<SettingName>([
  'controlToken',
  'controlJwtKey',
  'sigKey',
  'upstreamKey',
  'redis',
]);

export interface SettingsReload {
  /** The settings to run with: the new values, except restart-only ones. */
  settings: Settings;
  /** Changed and applied, by name. */
  applied: SettingName[];
  /** Changed in the sources, but kept as they were until a restart. */
  needsRestart: SettingName[];
}

export function reloadSettings(current: Settings, next: Settings): SettingsReload {
  const settings = { ...next };
  const applied: SettingName[] = [];
  const needsRestart: SettingName[] = [];
  for (const name of Object.keys(current) as SettingName[]) {
    if (isSame(current[name], next[name])) continue;
    if (restartOnlySettings.has(name)) {
      needsRestart.push(name);
      (settings as Record<SettingName, unknown>)[name] = current[name];
    } else {
      applied.push(name);
    }
  }
  return { settings, applied, needsRestart };
}

/** For the log line: changed settings with their new values, secrets by name only. */
export function describeChanges(names: SettingName[], settings: Settings): Record<string, unknown> {
  const changes: Record<string, unknown> = {};
  for (const name of names) changes[name] = secretSettings.has(name) ? '(changed)' : settings[name];
  return changes;
}

function isSame(a: unknown, b: unknown): boolean {
  return Array.isArray(a) && Array.isArray(b)
    ? a.length === b.length && a.every((item, at) => item === b[at])
    : a === b;
}
