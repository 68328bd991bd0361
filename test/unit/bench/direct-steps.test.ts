import { describe, expect, it } from 'vitest';
import {
  directHeadline,
  isSustained,
  stepLoss,
  type DirectStep,
} from '../../../bench/workloads/direct-steps.js';

const step = (figures: Partial<DirectStep>): DirectStep => ({
  target: 1_000,
  sent: 3_000,
  answered: 3_000,
  achieved: 1_000,
  written: 3_000,
  received: 3_000,
  duplicates: 0,
  receiptP50: 2,
  receiptP99: 10,
  receiptMax: 20,
  deliveryP50: 1,
  deliveryP99: 8,
  lost: 0,
  writtenNotReceived: 0,
  notWritten: 0,
  receivedNotWritten: 0,
  non200: {},
  errors: {},
  isSustained: true,
  ...figures,
});

describe('direct workload: loss by what the receipts said', () => {
  it('splits the missing items into written-not-received and not written', () => {
    expect(stepLoss(100, 90, 85)).toEqual({
      lost: 15,
      writtenNotReceived: 5,
      notWritten: 10,
      receivedNotWritten: 0,
    });
  });

  it('counts items received although their receipt said not written as wrong receipts', () => {
    expect(stepLoss(100, 90, 100)).toEqual({
      lost: 0,
      writtenNotReceived: 0,
      notWritten: 10,
      receivedNotWritten: 10,
    });
  });
});

describe('direct workload: sustained steps and the headline', () => {
  it('is sustained at 90 % of the target with nothing lost, duplicated, refused or failed', () => {
    expect(isSustained(step({ achieved: 900 }))).toBe(true);
    expect(isSustained(step({ achieved: 899 }))).toBe(false);
    expect(isSustained(step({ lost: 1 }))).toBe(false);
    expect(isSustained(step({ duplicates: 1 }))).toBe(false);
    expect(isSustained(step({ non200: { 404: 1 } }))).toBe(false);
    expect(isSustained(step({ errors: { UND_ERR_SOCKET: 1 } }))).toBe(false);
  });

  it('takes the fastest sustained step at receipt p99 <= 50 ms, and the fastest of all', () => {
    const steps = [
      step({ target: 1_000, achieved: 1_000, receiptP99: 5 }),
      step({ target: 2_000, achieved: 2_000, receiptP99: 50 }),
      step({ target: 5_000, achieved: 4_900, receiptP99: 51 }),
      step({ target: 10_000, achieved: 6_000, receiptP99: 900, isSustained: false }),
    ];
    const { best, maxAchieved } = directHeadline(steps);
    expect(best?.target).toBe(2_000);
    expect(maxAchieved).toBe(6_000);
  });

  it('has no headline step when none is sustained within the bound', () => {
    const { best, maxAchieved } = directHeadline([step({ receiptP99: 167 })]);
    expect(best).toBeUndefined();
    expect(maxAchieved).toBe(1_000);
    expect(directHeadline([]).maxAchieved).toBe(0);
  });
});
