import type { Fleet } from '../loadgen/fleet.js';
import type { DeliveryCounts } from '../loadgen/delivery-stats.js';
import { sleep } from '../process-tree.js';

const pollMs = 50;
/** How long a probe may take to arrive before it is published again. */
const probeRepeatMs = 1_000;

/**
 * Publishes probe items until `expected` connections have received one (subscriptions can
 * lag the response head, e.g. Pushpin's proxy → handler hop), bounded by `timeoutMs`.
 * Returns how many connections were reached.
 */
export async function probeUntilReached(
  fleet: Fleet,
  publishProbe: () => Promise<unknown>,
  expected: number,
  timeoutMs: number,
): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  let reached = 0;
  while (Date.now() < deadline) {
    await publishProbe().catch(() => undefined); // a refused probe is retried
    const repeatAt = Math.min(deadline, Date.now() + probeRepeatMs);
    while (Date.now() < repeatAt) {
      reached = (await fleet.counts()).probed;
      if (reached >= expected) return reached;
      await sleep(pollMs);
    }
  }
  return reached;
}

/**
 * Waits until `expected` measured items were received, or nothing arrived for `quietMs`,
 * or `timeoutMs` passed. Returns the last counts.
 */
export async function awaitDeliveries(
  fleet: Fleet,
  expected: number,
  quietMs: number,
  timeoutMs: number,
): Promise<DeliveryCounts> {
  const deadline = Date.now() + timeoutMs;
  let counts = await fleet.counts();
  let last = counts.received;
  let lastChangeAt = Date.now();
  while (
    counts.received < expected &&
    Date.now() < deadline &&
    Date.now() - lastChangeAt < quietMs
  ) {
    await sleep(pollMs);
    counts = await fleet.counts();
    if (counts.received !== last) {
      last = counts.received;
      lastChangeAt = Date.now();
    }
  }
  return counts;
}
