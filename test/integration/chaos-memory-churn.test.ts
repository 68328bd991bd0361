import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, expect, test } from 'vitest';
import { describeRecord } from '../chaos/record.js';
import { memoryChurn } from '../chaos/scenarios/memory-churn.js';

/*
 * The short form of `npm run chaos -- --scenario memory-churn`: 200 SSE and 200 WebSocket
 * connect/disconnect cycles between two heap snapshots of the worker, then a second idle.
 */

let dir: string | undefined;

afterEach(() => {
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
  dir = undefined;
});

test(
  'chaos memory-churn (short): connect/disconnect cycles leave no live heap objects behind and RSS comes back',
  { timeout: 120_000 },
  async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'thumbtack-chaos-churn-'));
    const record = await memoryChurn.run({ short: true, dir });
    expect(record.failures, describeRecord(record)).toEqual([]);
    expect(record.requestsFailed).toBe(0);
    expect(Math.abs(record.extra['rssChangePct'] as number)).toBeLessThanOrEqual(10);
  },
);
