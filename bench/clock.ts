import { performance } from 'node:perf_hooks';

/**
 * Milliseconds since the epoch with sub-millisecond precision. Publisher and receivers run
 * in different processes on one host; each derives this from the same system clock at its
 * start, so stamps are comparable to well under a millisecond.
 */
export function epochMs(): number {
  return performance.timeOrigin + performance.now();
}

/**
 * Microseconds on the monotonic clock V8 stamps CPU profile samples with (CLOCK_MONOTONIC on
 * Linux), so a time window measured here selects the matching samples of another process.
 */
export function monotonicUs(): number {
  return Number(process.hrtime.bigint() / 1000n);
}
