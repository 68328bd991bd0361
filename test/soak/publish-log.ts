/**
 * Every item the soak published: per channel, the position (1, 2, ...) and when its publish
 * request was sent, and the last position acknowledged with 200. Positions are assigned in
 * send order and batches go one at a time, so send times grow with position on a channel.
 */
export class PublishLog {
  private readonly sentAt: number[][];
  /** Last acknowledged position of each channel (index = channel). */
  readonly acked: number[];
  total = 0;

  constructor(readonly channels: number) {
    this.sentAt = Array.from({ length: channels }, () => []);
    this.acked = new Array<number>(channels).fill(0);
  }

  /** The next position of `channel`, sent at `time` (epoch ms). */
  next(channel: number, time: number): number {
    this.total++;
    return this.sentAt[channel].push(time);
  }

  ack(channel: number, seq: number): void {
    if (seq > this.acked[channel]) this.acked[channel] = seq;
  }

  /** The first position of `channel` whose publish was sent after `time`; last + 1 when none. */
  firstAfter(channel: number, time: number): number {
    const times = this.sentAt[channel];
    let lo = 0;
    let hi = times.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (times[mid] > time) hi = mid;
      else lo = mid + 1;
    }
    return lo + 1;
  }
}
