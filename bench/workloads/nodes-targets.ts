import { fmt } from './workload.js';

/** The targets for two nodes on one Redis against one node alone. */
export const nodesTargets = { minDeliveriesRatio: 0.7, maxP99Ratio: 1.5 } as const;

/** One set-up's headline fan-out figures; null where nothing arrived to measure. */
export interface SetupFigures {
  deliveriesS: number | null;
  p50Ms: number | null;
  p99Ms: number | null;
  lost: number;
  dropped: number;
}

export interface NodesComparison {
  /** Two-node deliveries/s over single-node; null when either is missing or the base is 0. */
  deliveriesRatio: number | null;
  /** Two-node p99 over single-node p99; null likewise. */
  p99Ratio: number | null;
  /** Each target missed, in words; empty when every target is met. */
  misses: string[];
}

function quotient(a: number | null, b: number | null): number | null {
  return a === null || b === null || b <= 0 ? null : a / b;
}

/** "0.84×", or "n/a" when a ratio could not be taken. */
export function ratioText(ratio: number | null): string {
  return ratio === null ? 'n/a' : `${ratio.toFixed(2)}×`;
}

/** Two nodes against one: the ratios and every target missed (a loss on either side counts). */
export function compareNodes(single: SetupFigures, two: SetupFigures): NodesComparison {
  const deliveriesRatio = quotient(two.deliveriesS, single.deliveriesS);
  const p99Ratio = quotient(two.p99Ms, single.p99Ms);
  const misses: string[] = [];
  const { minDeliveriesRatio, maxP99Ratio } = nodesTargets;
  if (deliveriesRatio === null) misses.push('deliveries/s ratio not measurable');
  else if (deliveriesRatio < minDeliveriesRatio)
    misses.push(`deliveries/s ${ratioText(deliveriesRatio)} < ${ratioText(minDeliveriesRatio)}`);
  if (p99Ratio === null) misses.push('p99 ratio not measurable');
  else if (p99Ratio > maxP99Ratio)
    misses.push(`p99 ${ratioText(p99Ratio)} > ${ratioText(maxP99Ratio)}`);
  if (single.lost > 0) misses.push(`single node lost ${single.lost}`);
  if (two.lost > 0) misses.push(`two nodes lost ${two.lost}`);
  return { deliveriesRatio, p99Ratio, misses };
}

/** "met", or "missed: …" naming each miss: the `targets` cell of the table. */
export function targetsVerdict(comparison: NodesComparison): string {
  return comparison.misses.length === 0 ? 'met' : `missed: ${comparison.misses.join('; ')}`;
}

const count = (n: number) => n.toLocaleString('en-US');

function figuresText(figures: SetupFigures): string {
  const ms = (value: number | null) => (value === null ? '-' : `${fmt(value)} ms`);
  const deliveries = figures.deliveriesS === null ? '-' : fmt(figures.deliveriesS);
  const dropped = figures.dropped > 0 ? `, dropped ${figures.dropped}` : '';
  return `${deliveries} deliveries/s, p50 ${ms(figures.p50Ms)}, p99 ${ms(figures.p99Ms)}, lost ${figures.lost}${dropped}`;
}

export interface NodesRun {
  messages: number;
  /** How the single node ran (its SUT description, e.g. "2 workers"). */
  singleSystem: string;
  singleSubscribers: number;
  single: SetupFigures;
  workersPerNode: number;
  /** Subscribers open on each of the two nodes, node A (the one published to) first. */
  nodeSubscribers: number[];
  two: SetupFigures;
}

/** The workload's one human line: both set-ups, then the ratios against the targets. */
export function nodesSummary(run: NodesRun, comparison: NodesComparison): string {
  const { minDeliveriesRatio, maxP99Ratio } = nodesTargets;
  const workers = `${run.workersPerNode} worker${run.workersPerNode > 1 ? 's' : ''} each`;
  return (
    `${run.messages} msgs; single node (${run.singleSystem}, ${count(run.singleSubscribers)} subs): ` +
    `${figuresText(run.single)}; two nodes + Redis (${workers}, ` +
    `${run.nodeSubscribers.map(count).join(' + ')} subs, publishes to node A): ${figuresText(run.two)}; ` +
    `two / single: deliveries/s ${ratioText(comparison.deliveriesRatio)} (target ≥ ${ratioText(minDeliveriesRatio)}), ` +
    `p99 ${ratioText(comparison.p99Ratio)} (target ≤ ${ratioText(maxP99Ratio)}); targets ${targetsVerdict(comparison)}`
  );
}
