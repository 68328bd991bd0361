import { afterEach, describe, expect, test, vi } from 'vitest';
import { preciseNow } from '../../../src/ipc/clock.js';

afterEach(() => {
  vi.restoreAllMocks();
});

describe('preciseNow', () => {
  test('is the wall clock to the millisecond, with a sub-millisecond fraction', () => {
    let hasFraction = false;
    for (let i = 0; i < 500; i++) {
      const before = Date.now();
      const now = preciseNow();
      const after = Date.now();
      expect(now).toBeGreaterThanOrEqual(before - 0.05);
      expect(now).toBeLessThan(after + 1.05);
      if (!Number.isInteger(now)) hasFraction = true;
    }
    expect(hasFraction).toBe(true);
  });

  test('never goes backwards while the wall clock runs on', () => {
    let last = preciseNow();
    for (let i = 0; i < 10_000; i++) {
      const now = preciseNow();
      expect(now).toBeGreaterThanOrEqual(last);
      last = now;
    }
  });

  test('follows a wall-clock step by anchoring again', () => {
    const realNow = Date.now.bind(Date);
    preciseNow();
    vi.spyOn(Date, 'now').mockImplementation(() => realNow() + 60_000);
    const before = Date.now();
    const now = preciseNow();
    expect(now).toBeGreaterThanOrEqual(before - 0.05);
    expect(now).toBeLessThan(Date.now() + 1.05);
  });
});
