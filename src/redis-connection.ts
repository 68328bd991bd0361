import { Cluster, Redis } from 'ioredis';
import { ConfigError } from './errors.js';
import type { RedisSettings } from './redis-mode.js';

/*
 * The Redis that many thumbtack nodes share (--redis, or --redis-cluster seed nodes).
 * Clients never queue commands while disconnected: a publish during an outage fails at
 * once (the control API answers 503) rather than waiting for a Redis that may not return.
 */

export type RedisClient = Redis | Cluster;

/** How long a node waits for Redis at start before it gives up (exit 2). */
const startTimeoutMs = 5_000;

/** The setting and its value, password hidden, for messages an operator reads. */
export function describeRedis(settings: RedisSettings): string {
  if (settings.redisCluster) return `--redis-cluster ${settings.redisCluster}`;
  const url = new URL(settings.redis);
  if (url.password) url.password = '***';
  return `--redis ${url.href}`;
}

/** Reconnects forever, backing off to 2 s between attempts. */
function retryDelay(attempt: number): number {
  return Math.min(attempt * 100, 2_000);
}

/**
 * A client that is not connected yet; `subscriber` clients of a cluster use sharded
 * pub/sub, one connection per shard.
 */
export function createRedisClient(
  settings: RedisSettings,
  role: 'commands' | 'subscriber',
): RedisClient {
  const common = {
    lazyConnect: true,
    enableOfflineQueue: false,
    connectTimeout: 2_000,
  };
  if (settings.redisCluster) {
    const nodes = settings.redisCluster.split(',').map((node) => {
      const at = node.lastIndexOf(':');
      return { host: node.slice(0, at).replace(/^\[|\]$/g, ''), port: Number(node.slice(at + 1)) };
    });
    return new Cluster(nodes, {
      lazyConnect: true,
      enableOfflineQueue: false,
      shardedSubscribers: role === 'subscriber',
      clusterRetryStrategy: retryDelay,
      redisOptions: { connectTimeout: common.connectTimeout },
    });
  }
  return new Redis(settings.redis, {
    ...common,
    retryStrategy: retryDelay,
    // A subscriber's channels are resubscribed by RedisFanout, which also catches up.
    autoResubscribe: false,
    maxRetriesPerRequest: 0,
  });
}

/**
 * Connects and checks that commands work (address, password, database); throws
 * ConfigError naming the setting and the problem, and leaves nothing open, when Redis
 * cannot be used within a few seconds.
 */
export async function connectRedis(
  settings: RedisSettings,
  role: 'commands' | 'subscriber',
): Promise<RedisClient> {
  const client = createRedisClient(settings, role);
  let lastError: Error | undefined;
  const onError = (err: Error): void => {
    lastError = err;
  };
  client.on('error', onError);
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      (async () => {
        await client.connect();
        await client.ping();
      })(),
      new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(lastError ?? new Error(`no answer within ${startTimeoutMs / 1000} s`)),
          startTimeoutMs,
        );
      }),
    ]);
  } catch (err) {
    client.disconnect();
    const reason = (lastError ?? (err as Error)).message || String(err);
    throw new ConfigError(`${describeRedis(settings)}: cannot use Redis: ${reason}`);
  } finally {
    clearTimeout(timer);
    client.off('error', onError);
  }
  return client;
}
