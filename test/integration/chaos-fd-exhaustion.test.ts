import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, expect, test } from 'vitest';
import { describeRecord } from '../chaos/record.js';
import { fdExhaustion } from '../chaos/scenarios/fd-exhaustion.js';

/*
 * The short form of `npm run chaos -- --scenario fd-exhaustion`: 250 SSE clients against a
 * worker with --max-connections 150, then all leave.
 */

let dir: string | undefined;

afterEach(() => {
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
  dir = undefined;
});

test(
  'chaos fd-exhaustion (short): clients past the cap are refused, none hangs, the worker idles at the cap and serves again once they leave',
  { timeout: 60_000 },
  async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'thumbtack-chaos-fd-'));
    const record = await fdExhaustion.run({ short: true, dir });
    expect(record.failures, describeRecord(record)).toEqual([]);
    expect(record.extra['hung']).toBe(0);
    expect(record.extra['refused']).toBeGreaterThan(0);
    expect(record.extra['idleCpuShare']).toBeLessThanOrEqual(0.1);
    expect(record.recoveryMs).not.toBeNull();
  },
);
