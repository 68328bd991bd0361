import { describe, expect, it } from 'vitest';
import { loadSettings } from '../../../src/config/load.js';
import type { PublishItem } from '../../../src/grip/publish-types.js';
import {
  comparePositions,
  decodeRedisMessage,
  decodeRedisPayload,
  decodeStreamEntry,
  encodeRedisPayload,
  positionSeq,
} from '../../../src/ipc/redis-entry.js';

const full: PublishItem = {
  channel: 'news',
  id: '7',
  prevId: '6',
  meta: { user: 'alice' },
  noSeq: true,
  formats: {
    httpResponse: {
      action: 'send',
      code: 201,
      reason: 'Created',
      headers: [['X-A', '1']],
      body: Buffer.from('r'),
      contentFilters: ['var-subst'],
    },
    httpStream: { action: 'close', content: Buffer.from('s') },
    wsMessage: {
      action: 'send',
      type: 'binary',
      content: Buffer.from([0, 255]),
      code: 4000,
      reason: 'bye',
    },
  },
};

describe('Redis entries', () => {
  it('round-trips every field of an item through the payload, no-seq included', () => {
    expect(decodeRedisPayload(encodeRedisPayload(full), 'news')).toEqual({ item: full });
    const plain: PublishItem = {
      channel: 'c',
      noSeq: false,
      formats: { httpStream: { action: 'send', content: Buffer.from('x') } },
    };
    expect(decodeRedisPayload(encodeRedisPayload(plain), 'c')).toEqual({ item: plain });
  });

  it('carries a receipt request with the node it answers to, and only when asked', () => {
    const ask = { kind: 'receipt', receipt: 7, waitMs: 500, ackMs: 2000, origin: 'n1' } as const;
    expect(decodeRedisPayload(encodeRedisPayload(full, ask), 'news')).toEqual({ item: full, ask });
    const message = Buffer.concat([Buffer.from('1-0 12 '), encodeRedisPayload(full, ask)]);
    expect(decodeRedisMessage(message, 'news')?.ask).toEqual(ask);
    expect(decodeRedisPayload(encodeRedisPayload(full), 'news')?.ask).toBeUndefined();
  });

  it('reads a pub/sub message: position, Redis time and item', () => {
    const message = Buffer.concat([
      Buffer.from('1700000000000-3 1700000000000123 '),
      encodeRedisPayload(full),
    ]);
    expect(decodeRedisMessage(message, 'news')).toEqual({
      position: '1700000000000-3',
      timeMicros: 1700000000000123,
      item: full,
    });
  });

  it('reads a stream entry from its id and fields', () => {
    const entry = decodeStreamEntry(
      Buffer.from('5-0'),
      [Buffer.from('t'), Buffer.from('42'), Buffer.from('d'), encodeRedisPayload(full)],
      'news',
    );
    expect(entry).toEqual({ position: '5-0', timeMicros: 42, item: full });
  });

  it('ignores what is not an item: other programs’ messages, another channel’s item, bad positions', () => {
    const payload = encodeRedisPayload(full);
    expect(decodeRedisMessage(Buffer.from('hello'), 'news')).toBeUndefined();
    expect(decodeRedisMessage(Buffer.from('1-0 12 not-an-item'), 'news')).toBeUndefined();
    expect(
      decodeRedisMessage(Buffer.concat([Buffer.from('1-0 12 '), payload]), 'other'),
    ).toBeUndefined();
    expect(
      decodeRedisMessage(Buffer.concat([Buffer.from('x-0 12 '), payload]), 'news'),
    ).toBeUndefined();
    expect(
      decodeRedisMessage(Buffer.concat([Buffer.from('1-0 1.5 '), payload]), 'news'),
    ).toBeUndefined();
    expect(decodeStreamEntry('1-0', ['t', '12'], 'news')).toBeUndefined();
  });

  it('derives a bus seq from a position that orders as the positions do', () => {
    expect(positionSeq('1700000000000-0')).toBe(1700000000000 * 2048);
    expect(positionSeq('1700000000000-5')).toBeLessThan(positionSeq('1700000000001-0'));
    expect(positionSeq('1700000000000-5')).toBeGreaterThan(positionSeq('1700000000000-4'));
    expect(positionSeq('1700000000000-9999')).toBeLessThan(positionSeq('1700000000001-0'));
    expect(Number.isSafeInteger(positionSeq('4398046511103-2047'))).toBe(true);
  });

  it('orders positions by time, then by sequence within the millisecond', () => {
    expect(comparePositions('10-0', '9-5')).toBeGreaterThan(0);
    expect(comparePositions('10-2', '10-10')).toBeLessThan(0);
    expect(comparePositions('10-2', '10-2')).toBe(0);
  });
});

describe('Redis settings', () => {
  const load = (...argv: string[]) =>
    loadSettings(['--routes', 'config/routes', ...argv], {}).settings;

  it('accepts redis:// and rediss:// URLs with a password and a database, and seed node lists', () => {
    expect(load('--redis', 'redis://:secret@10.0.0.5:6380/2').redis).toBe(
      'redis://:secret@10.0.0.5:6380/2',
    );
    expect(load('--redis', 'rediss://user:pw@cache.example.com:6379').redis).toMatch(/^rediss:/);
    expect(load('--redis-cluster', 'a:7000, b:7001,[::1]:7002').redisCluster).toBe(
      'a:7000,b:7001,[::1]:7002',
    );
    expect(loadSettings(['--routes', 'x'], { THUMBTACK_REDIS: 'redis://h:1' }).settings.redis).toBe(
      'redis://h:1',
    );
  });

  it('refuses other schemes, a database that is not a number, bad seed nodes and both at once, naming the setting', () => {
    expect(() => load('--redis', 'http://h:1')).toThrow(
      /--redis: bad value "http:\/\/h:1"; allowed: redis:\/\//,
    );
    expect(() => load('--redis', 'redis://h:1/zero')).toThrow(/--redis: bad value/);
    expect(() => load('--redis', 'redis://h:1?db=2')).toThrow(/--redis: bad value/);
    expect(() => load('--redis-cluster', 'h')).toThrow(
      /--redis-cluster: bad value "h"; allowed: a comma-separated list of host:port/,
    );
    expect(() => load('--redis', 'redis://h:1', '--redis-cluster', 'h:2')).toThrow(
      /cannot be given together/,
    );
  });
});
