import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, expect, test } from 'vitest';
import { handlerKill } from '../chaos/scenarios/handler-kill.js';
import { stopAllThumbtacks } from '../support/thumbtack.js';

/* The short form of `npm run chaos -- --scenario handler-kill`: one kill, a small load. */

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'thumbtack-chaos-'));

afterEach(async () => {
  await stopAllThumbtacks();
  fs.rmSync(dir, { recursive: true, force: true });
});

test('chaos handler-kill: a handler SIGKILLed under load fails no plain request, loses no held connection and no publish accepted with 200', async () => {
  const record = await handlerKill.run({ short: true, dir });
  expect(record.failures).toEqual([]);
  expect(record.faultsInjected).toBe(1);
  expect(record.requestsSent).toBeGreaterThan(0);
  expect(record.requestsFailed).toBe(0);
  expect(record.connectionsLost).toBe(0);
  expect(record.itemsPublished).toBeGreaterThan(0);
  expect(record.itemsLost).toBe(0);
  expect(record.itemsDuplicated).toBe(0);
  // The outage was real: publishes made in it were refused at the publisher.
  expect(record.extra['publishesRefusedInOutage']).toBeGreaterThan(0);
  expect(record.recoveryMs).toBeGreaterThan(0);
}, 120_000);
