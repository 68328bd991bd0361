/*
 * Node runs a timer whose delay is above 2^31 - 1 ms (about 24.8 days) after 1 ms instead
 * (with a TimeoutOverflowWarning). Every duration that reaches a timer is bounded here:
 * durations from the wire are clamped, settings above the bound are refused.
 */

/** The longest delay a Node timer keeps, in milliseconds. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** The longest duration thumbtack waits for, in whole seconds (2,147,483 s, about 24.8 days). */
export const MAX_TIMER_SECONDS = Math.floor(MAX_TIMER_MS / 1000);

/** A duration in seconds from the wire, clamped to what a timer can wait. */
export function clampTimerSeconds(seconds: number): number {
  return seconds > MAX_TIMER_SECONDS ? MAX_TIMER_SECONDS : seconds;
}

/** A computed delay (backoffs) in milliseconds, within 0 and what a timer can wait. */
export function clampTimerMs(ms: number): number {
  if (!(ms > 0)) return 0;
  return ms > MAX_TIMER_MS ? MAX_TIMER_MS : ms;
}
