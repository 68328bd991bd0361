/** Log-scaled buckets: about 1.7 % resolution from 1 µs to hours, in a fixed small array. */
const bucketsPerE = 60;
const bucketCount = 1400;

export interface HistogramData {
  /** [bucket index, count] for non-empty buckets only. */
  buckets: [number, number][];
  count: number;
  sum: number;
  max: number;
}

/** Latency histogram in milliseconds, cheap to record and to merge across processes. */
export class Histogram {
  private counts = new Uint32Array(bucketCount);
  count = 0;
  sum = 0;
  max = 0;

  record(ms: number): void {
    // A negative value is clock skew between processes: count it as 0.
    const us = ms > 0 ? ms * 1000 : 0;
    const index = Math.min(bucketCount - 1, Math.floor(Math.log1p(us) * bucketsPerE));
    this.counts[index]++;
    this.count++;
    this.sum += ms > 0 ? ms : 0;
    if (ms > this.max) this.max = ms;
  }

  reset(): void {
    this.counts.fill(0);
    this.count = 0;
    this.sum = 0;
    this.max = 0;
  }

  merge(data: HistogramData): void {
    for (const [index, n] of data.buckets) this.counts[index] += n;
    this.count += data.count;
    this.sum += data.sum;
    if (data.max > this.max) this.max = data.max;
  }

  /** The value below which `p` percent of the recorded values fall; NaN when empty. */
  percentile(p: number): number {
    if (this.count === 0) return NaN;
    const target = Math.max(1, Math.ceil((p / 100) * this.count));
    let seen = 0;
    for (let i = 0; i < bucketCount; i++) {
      seen += this.counts[i];
      if (seen >= target) return Math.min(this.max, Math.expm1((i + 0.5) / bucketsPerE) / 1000);
    }
    return this.max;
  }

  mean(): number {
    return this.count === 0 ? NaN : this.sum / this.count;
  }

  toData(): HistogramData {
    const buckets: [number, number][] = [];
    for (let i = 0; i < bucketCount; i++) if (this.counts[i] > 0) buckets.push([i, this.counts[i]]);
    return { buckets, count: this.count, sum: this.sum, max: this.max };
  }
}
