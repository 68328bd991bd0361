/**
 * A histogram's counts in plain numbers: observing allocates nothing, so it can sit on a
 * delivery or request path. Turned into prom-client's metric JSON only when reported.
 */
export class BucketCounts {
  /** counts[i]: observations <= bounds[i]; the last slot is +Inf. Not cumulative. */
  readonly counts: Float64Array;
  sum = 0;
  count = 0;

  constructor(readonly bounds: readonly number[]) {
    this.counts = new Float64Array(bounds.length + 1);
  }

  /** `times`: the same value observed that many times (one measure for a batch). */
  observe(value: number, times = 1): void {
    let at = 0;
    while (at < this.bounds.length && value > this.bounds[at]!) at++;
    this.counts[at]! += times;
    this.sum += value * times;
    this.count += times;
  }
}

/** Publish → socket write, seconds: sub-millisecond on a quiet node, seconds under overload. */
export const latencyBounds = [
  0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5,
] as const;

/** Backend request duration, seconds, up to the default --backend-timeout. */
export const backendDurationBounds = [
  0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30,
] as const;
