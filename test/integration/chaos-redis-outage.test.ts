import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, expect, test } from 'vitest';
import { redisOutage } from '../chaos/scenarios/redis-outage.js';
import { stopAllRedisServers } from '../support/redis-server.js';
import { stopAllThumbtacks } from '../support/thumbtack.js';

/* The short form of `npm run chaos -- --scenario redis-outage`: one 1 s outage, a small load. */

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'thumbtack-chaos-'));

afterEach(async () => {
  await stopAllThumbtacks();
  await stopAllRedisServers();
  fs.rmSync(dir, { recursive: true, force: true });
});

test('chaos redis-outage: with Redis killed and restarted under load, two nodes refuse publishes with 503, keep every held connection and plain request, and deliver everything accepted', async () => {
  const record = await redisOutage.run({ short: true, dir });
  expect(record.failures).toEqual([]);
  expect(record.faultsInjected).toBe(1);
  expect(record.requestsFailed).toBe(0);
  expect(record.connectionsLost).toBe(0);
  expect(record.itemsPublished).toBeGreaterThan(0);
  expect(record.itemsLost).toBe(0);
  expect(record.itemsDuplicated).toBe(0);
  expect(record.extra['publishesRefusedInOutage']).toBeGreaterThan(0);
  expect(record.extra['refusedAs']).toBe('503');
  expect(record.extra['publishesAcceptedInOutage']).toBe(0);
}, 120_000);
