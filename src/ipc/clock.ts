/*
 * The clock both processes stamp the subscribe race with: the handler when it accepts an
 * item (DeliveryHeader.time), a proxy worker when a request leaves for the backend (a
 * subscriber's `since`). Date.now() alone is too coarse: a long-poll that gets an item and
 * asks again within the same millisecond would be given that item a second time, and a
 * strict comparison would lose items published within the millisecond of the request.
 * Each process anchors the monotonic clock to a wall-clock millisecond tick, so readings
 * agree across the processes of one host to a few microseconds, far below the backend
 * round trip that separates the events compared. A wall-clock step is noticed and
 * re-anchored, so processes started before and after it still agree.
 */

let offset = Number.NaN;

/** Epoch milliseconds with a sub-millisecond fraction. */
export function preciseNow(): number {
  let now = performance.now() + offset;
  if (isOnWallClock(now)) return now;
  // A pause between the two readings looks like a step; a second look tells them apart.
  now = performance.now() + offset;
  if (isOnWallClock(now)) return now;
  anchor();
  return performance.now() + offset;
}

/** Date.now() read just after is the same instant floored to the millisecond. */
function isOnWallClock(now: number): boolean {
  const wall = Date.now();
  return now >= wall - 0.05 && now < wall + 1.05;
}

/**
 * Waits for Date.now() to tick and anchors there. A tick seen across a pause (the process
 * was descheduled) is imprecise, so on a loaded machine it tries again, up to 100 ticks
 * (100 ms, once per process), and keeps the tightest anchor seen.
 */
function anchor(): void {
  let bestSpan = Infinity;
  for (let attempt = 0; attempt < 100 && bestSpan >= 0.02; attempt++) {
    const start = Date.now();
    let before = performance.now();
    for (;;) {
      const wall = Date.now();
      const after = performance.now();
      if (wall !== start) {
        if (after - before < bestSpan) {
          bestSpan = after - before;
          offset = wall - (before + after) / 2;
        }
        break;
      }
      before = after;
    }
  }
}
