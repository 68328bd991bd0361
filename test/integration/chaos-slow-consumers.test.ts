import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, expect, test } from 'vitest';
import { describeRecord } from '../chaos/record.js';
import { slowConsumers } from '../chaos/scenarios/slow-consumers.js';

/*
 * The short form of `npm run chaos -- --scenario slow-consumers`: 10 never-reading SSE
 * clients and 3 readers on one channel while 5 MiB are published to it.
 */

let dir: string | undefined;

afterEach(() => {
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
  dir = undefined;
});

test(
  'chaos slow-consumers (short): every never-reading client is cut, the worker stays within its buffers, readers lose nothing',
  { timeout: 60_000 },
  async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'thumbtack-chaos-slow-'));
    const record = await slowConsumers.run({ short: true, dir });
    expect(record.failures, describeRecord(record)).toEqual([]);
    expect(record.extra['slowCut']).toBe(10);
    expect(record.itemsLost).toBe(0);
    expect(record.connectionsLost).toBe(0);
    expect(record.extra['rssPeakMiB']).toBeLessThanOrEqual(record.extra['rssBoundMiB'] as number);
  },
);
