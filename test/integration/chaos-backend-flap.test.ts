import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, expect, test } from 'vitest';
import { backendFlap } from '../chaos/scenarios/backend-flap.js';
import { stopAllThumbtacks } from '../support/thumbtack.js';

/* The short form of `npm run chaos -- --scenario backend-flap`: two downtimes, a small load. */

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'thumbtack-chaos-'));

afterEach(async () => {
  await stopAllThumbtacks();
  fs.rmSync(dir, { recursive: true, force: true });
});

test('chaos backend-flap: a backend going down and up fails requests only while down, as 502/504 naming the route, loses no held connection, and WebSocket-over-HTTP messages get through by retries', async () => {
  const record = await backendFlap.run({ short: true, dir });
  expect(record.failures).toEqual([]);
  expect(record.faultsInjected).toBe(2);
  expect(record.requestsFailed).toBe(0);
  expect(record.connectionsLost).toBe(0);
  expect(record.itemsLost).toBe(0);
  // The downtimes were real: requests in them got gateway errors, messages were retried.
  expect(record.extra['gatewayErrorsWhileDown']).toBeGreaterThan(0);
  expect(record.extra['wsRetries']).toBeGreaterThan(0);
  const [answered, sent] = String(record.extra['wsMessagesAnswered']).split('/');
  expect(Number(sent)).toBeGreaterThan(0);
  expect(answered).toBe(sent);
}, 120_000);
