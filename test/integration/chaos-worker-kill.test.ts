import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, expect, test } from 'vitest';
import { workerKill } from '../chaos/scenarios/worker-kill.js';
import { stopAllThumbtacks } from '../support/thumbtack.js';

/* The short form of `npm run chaos -- --scenario worker-kill`: a small load. */

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'thumbtack-chaos-'));

afterEach(async () => {
  await stopAllThumbtacks();
  fs.rmSync(dir, { recursive: true, force: true });
});

test("chaos worker-kill: one of two workers SIGKILLed under load: the other's clients see nothing, the dead one's are closed at once and come back, and the runner restarts it", async () => {
  const record = await workerKill.run({ short: true, dir });
  expect(record.failures).toEqual([]);
  expect(record.requestsSent).toBeGreaterThan(0);
  expect(record.requestsFailed).toBe(0);
  expect(record.connectionsLost).toBe(0);
  expect(record.itemsPublished).toBeGreaterThan(0);
  expect(record.itemsLost).toBe(0);
  const victims = record.extra['deadWorkerClients'] as number;
  expect(victims).toBeGreaterThan(0);
  expect(record.extra['deadWorkerClientsBack']).toBe(victims);
  expect(record.extra['deadWorkerClientsClosedMaxMs']).toBeLessThan(2_000);
  expect(record.recoveryMs).toBeGreaterThan(0);
}, 120_000);
