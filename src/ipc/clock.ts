/*
 * The clock both processes stamp the subscribe race with: the handler when it accepts an
 * item (DeliveryHeader.time), a proxy worker when a request leaves for the backend (a
 * subscriber's `since`). Date.now() alone is too coarse: a long-poll that gets an item and
 * asks again within the same millisecond would be given that item a second time, and a
 * strict comparison would lose items published within the millisecond of the request.
 *
 * It is the host's monotonic clock (what process.hrtime reads: CLOCK_MONOTONIC on Linux),
 * which every process on the host reads alike, so two processes' readings compare directly,
 * to the nanosecond, with nothing to anchor. Anchoring each process's performance.now() to
 * a wall-clock tick instead left two processes 0.1 ms apart on a busy machine. It is not a
 * wall clock: compare its readings with each other only, never with Date.now(), and never
 * across hosts.
 */

/** Milliseconds, with a sub-millisecond fraction, on the host's monotonic clock. */
export function preciseNow(): number {
  return Number(process.hrtime.bigint()) / 1e6;
}
