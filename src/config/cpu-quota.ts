/*
 * The CPUs a container may use, from its cgroup's CPU bandwidth limit. Docker's `--cpus`
 * and a Kubernetes CPU limit set a quota (microseconds of CPU time per period) without
 * hiding the host's cores, so one worker per visible core would oversubscribe the quota.
 * Pure parsers: the caller reads the files.
 */

/**
 * cgroup v2 `cpu.max`: "QUOTA PERIOD", or "max PERIOD" for no limit. Returns the CPUs the
 * quota allows (1.5 for "150000 100000"), or undefined for no limit or text it cannot read.
 */
export function parseCpuMax(text: string): number | undefined {
  const [quota, period, ...rest] = text.trim().split(/\s+/);
  if (rest.length > 0 || quota === 'max' || quota === undefined || period === undefined) {
    return undefined;
  }
  return cpusFromQuota(quota, period);
}

/**
 * cgroup v1 `cpu.cfs_quota_us` and `cpu.cfs_period_us`; a quota of -1 means no limit.
 * Returns the CPUs the quota allows, or undefined.
 */
export function parseCfsQuota(quotaText: string, periodText: string): number | undefined {
  return cpusFromQuota(quotaText.trim(), periodText.trim());
}

function cpusFromQuota(quota: string, period: string): number | undefined {
  if (!/^\d+$/.test(quota) || !/^\d+$/.test(period)) return undefined;
  const q = Number(quota);
  const p = Number(period);
  return q > 0 && p > 0 ? q / p : undefined;
}

/** Processes to run on `parallelism` usable cores under a quota of `cpus`: at least 1. */
export function workersForCpus(parallelism: number, cpus: number | undefined): number {
  const limit = cpus === undefined ? parallelism : Math.min(parallelism, Math.ceil(cpus));
  return Math.max(1, limit);
}
