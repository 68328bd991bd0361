/*
 * Node flags the runner gives each proxy worker.
 *
 * --max-semi-space-size: every hold a worker accepts survives its first scavenges, so a
 * burst of accepts grows V8's young generation to its default ceiling (two 16 MiB
 * semi-spaces), and an idle worker never shrinks it back: resident memory that reads as
 * cost per held connection. 4 MiB semi-spaces keep it small; the bench's fan-out and
 * proxy figures do not move (the measurements are in the commit that set it).
 */

const semiSpaceMiB = 4;

/** The flags, minus any the operator set in NODE_OPTIONS (theirs win). */
export function workerNodeFlags(nodeOptions = process.env.NODE_OPTIONS ?? ''): string[] {
  return nodeOptions.includes('--max-semi-space-size')
    ? []
    : [`--max-semi-space-size=${semiSpaceMiB}`];
}
