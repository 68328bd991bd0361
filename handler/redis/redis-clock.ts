import { preciseNow } from '../../src/ipc/clock.js';
import type { RedisClient } from '../../src/redis-connection.js';

/*
 * Items stored in Redis carry Redis's clock (TIME in the publish script); this node's
 * workers compare item times with when a request left, on the host's monotonic clock
 * (src/ipc/clock). This measures the offset between the two, so that an item's time
 * becomes a local reading without assuming that the hosts' clocks agree. Each sample
 * brackets one TIME call; the one with the shortest round trip wins, and half of it is
 * the uncertainty. Converted times are moved later by the uncertainty: an item published
 * right as a request left is then delivered (possibly to a long-poll that asks again
 * within that fraction of a millisecond) rather than lost.
 */

const samplesPerNode = 5;
const remeasureMs = 10_000;

export class RedisClock {
  /** Redis epoch milliseconds minus local monotonic milliseconds. */
  private offsetMs = 0;
  private uncertaintyMs = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly nodes: () => RedisClient[]) {}

  /** Measures once (rejects when Redis does not answer), then again every 10 s. */
  async start(): Promise<void> {
    await this.measure();
    this.timer = setInterval(() => void this.measure().catch(() => {}), remeasureMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /** An item's Redis time (µs since the epoch) as a local monotonic reading (ms). */
  toLocal(timeMicros: number): number {
    return timeMicros / 1000 - this.offsetMs + this.uncertaintyMs;
  }

  /** Redis's clock now, in epoch milliseconds, as estimated here. */
  redisNowMs(): number {
    return preciseNow() + this.offsetMs;
  }

  /**
   * With several Redis nodes (a cluster), an item carries the clock of its channel's
   * shard: the offsets' spread is added to the uncertainty.
   */
  private async measure(): Promise<void> {
    const results = await Promise.all(this.nodes().map((node) => sample(node)));
    if (results.length === 0) return;
    const offsets = results.map((r) => r.offsetMs);
    const spread = Math.max(...offsets) - Math.min(...offsets);
    this.offsetMs = offsets.reduce((a, b) => a + b, 0) / offsets.length;
    this.uncertaintyMs = Math.max(...results.map((r) => r.roundTripMs)) / 2 + spread / 2;
  }
}

async function sample(node: RedisClient): Promise<{ offsetMs: number; roundTripMs: number }> {
  let best = { offsetMs: 0, roundTripMs: Infinity };
  for (let i = 0; i < samplesPerNode; i++) {
    const before = preciseNow();
    const [seconds, micros] = await node.time();
    const after = preciseNow();
    const redisMs = Number(seconds) * 1000 + Number(micros) / 1000;
    const roundTripMs = after - before;
    if (roundTripMs < best.roundTripMs) {
      best = { offsetMs: redisMs - (before + after) / 2, roundTripMs };
    }
  }
  return best;
}
