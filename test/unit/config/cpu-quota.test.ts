import { describe, expect, it } from 'vitest';
import { parseCfsQuota, parseCpuMax, workersForCpus } from '../../../src/config/cpu-quota.js';

describe('parseCpuMax (cgroup v2 cpu.max)', () => {
  it.each<[string, string, number | undefined]>([
    ['no limit', 'max 100000\n', undefined],
    ['two CPUs', '200000 100000\n', 2],
    ['one and a half CPUs', '150000 100000', 1.5],
    ['a quota below one CPU', '50000 100000\n', 0.5],
    ['another period', '300000 50000\n', 6],
    ['extra spaces', '  200000   100000  \n', 2],
    ['empty file', '', undefined],
    ['quota alone', '200000', undefined],
    ['three fields', '200000 100000 1', undefined],
    ['a negative quota', '-1 100000', undefined],
    ['a zero period', '100000 0', undefined],
    ['a zero quota', '0 100000', undefined],
    ['words', 'lots often', undefined],
  ])('%s: %j gives %s', (_name, text, cpus) => {
    expect(parseCpuMax(text)).toBe(cpus);
  });
});

describe('parseCfsQuota (cgroup v1 cpu.cfs_quota_us, cpu.cfs_period_us)', () => {
  it.each<[string, string, string, number | undefined]>([
    ['no limit', '-1\n', '100000\n', undefined],
    ['two CPUs', '200000\n', '100000\n', 2],
    ['a quarter CPU', '25000', '100000', 0.25],
    ['an empty quota file', '', '100000', undefined],
    ['a zero period', '100000', '0', undefined],
    ['a fraction', '1.5', '1', undefined],
  ])('%s: quota %j, period %j gives %s', (_name, quota, period, cpus) => {
    expect(parseCfsQuota(quota, period)).toBe(cpus);
  });
});

describe('workersForCpus', () => {
  it.each<[string, number, number | undefined, number]>([
    ['no quota: one per usable core', 8, undefined, 8],
    ['a quota of two on eight cores', 8, 2, 2],
    ['a fractional quota rounds up', 8, 1.5, 2],
    ['a quota below one CPU still gets a worker', 8, 0.25, 1],
    ['a quota above the cores: the cores', 2, 16, 2],
    ['one core', 1, undefined, 1],
  ])('%s', (_name, parallelism, cpus, workers) => {
    expect(workersForCpus(parallelism, cpus)).toBe(workers);
  });
});
