/*
 * Whether a node shares publishes through Redis, apart from the Redis client itself so that
 * deciding it does not load ioredis.
 */

export interface RedisSettings {
  redis: string;
  redisCluster: string;
}

export function isRedisMode(settings: RedisSettings): boolean {
  return settings.redis !== '' || settings.redisCluster !== '';
}
