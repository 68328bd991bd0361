import { describe, expect, test } from 'vitest';
import { preciseNow } from '../../../src/ipc/clock.js';

describe('preciseNow', () => {
  test('runs with the monotonic clock, with a sub-millisecond fraction', () => {
    let hasFraction = false;
    for (let i = 0; i < 500; i++) {
      const before = Number(process.hrtime.bigint()) / 1e6;
      const now = preciseNow();
      const after = Number(process.hrtime.bigint()) / 1e6;
      expect(now).toBeGreaterThanOrEqual(before);
      expect(now).toBeLessThanOrEqual(after);
      if (!Number.isInteger(now)) hasFraction = true;
    }
    expect(hasFraction).toBe(true);
  });

  test('never goes backwards', () => {
    let last = preciseNow();
    for (let i = 0; i < 10_000; i++) {
      const now = preciseNow();
      expect(now).toBeGreaterThanOrEqual(last);
      last = now;
    }
  });
});
