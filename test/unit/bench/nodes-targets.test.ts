import { describe, expect, it } from 'vitest';
import {
  compareNodes,
  nodesSummary,
  ratioText,
  targetsVerdict,
  type SetupFigures,
} from '../../../bench/workloads/nodes-targets.js';

const single: SetupFigures = {
  deliveriesS: 100_000,
  p50Ms: 10,
  p99Ms: 40,
  lost: 0,
  dropped: 0,
};
const two = (figures: Partial<SetupFigures>): SetupFigures => ({ ...single, ...figures });

describe('nodes workload: two nodes against one', () => {
  it('meets the targets at exactly 0.7× deliveries/s and 1.5× p99 with nothing lost', () => {
    const comparison = compareNodes(single, two({ deliveriesS: 70_000, p99Ms: 60 }));
    expect(comparison.deliveriesRatio).toBeCloseTo(0.7);
    expect(comparison.p99Ratio).toBeCloseTo(1.5);
    expect(comparison.misses).toEqual([]);
    expect(targetsVerdict(comparison)).toBe('met');
  });

  it('names every target missed: throughput, tail latency, and a loss on either side', () => {
    const comparison = compareNodes(
      { ...single, lost: 3 },
      two({ deliveriesS: 69_000, p99Ms: 62, lost: 5 }),
    );
    expect(comparison.misses).toEqual([
      'deliveries/s 0.69× < 0.70×',
      'p99 1.55× > 1.50×',
      'single node lost 3',
      'two nodes lost 5',
    ]);
    expect(targetsVerdict(comparison)).toBe(
      'missed: deliveries/s 0.69× < 0.70×; p99 1.55× > 1.50×; single node lost 3; two nodes lost 5',
    );
  });

  it('takes no ratio over a missing or zero single-node figure, and counts that as a miss', () => {
    const comparison = compareNodes(
      { ...single, deliveriesS: 0, p99Ms: null },
      two({ deliveriesS: 50_000 }),
    );
    expect(comparison.deliveriesRatio).toBeNull();
    expect(comparison.p99Ratio).toBeNull();
    expect(comparison.misses).toEqual([
      'deliveries/s ratio not measurable',
      'p99 ratio not measurable',
    ]);
  });

  it('writes ratios with two decimals, and n/a when there is none', () => {
    expect(ratioText(0.8449)).toBe('0.84×');
    expect(ratioText(1.5)).toBe('1.50×');
    expect(ratioText(null)).toBe('n/a');
  });

  it('summarises both set-ups, the split, what each ran with, and the ratios against the targets', () => {
    const twoFigures = two({ deliveriesS: 84_000, p50Ms: 12.5, p99Ms: 52, dropped: 2 });
    const comparison = compareNodes(single, twoFigures);
    const line = nodesSummary(
      {
        messages: 20,
        singleSystem: '2 workers',
        singleSubscribers: 10_000,
        single,
        workersPerNode: 1,
        nodeSubscribers: [5_000, 5_000],
        two: twoFigures,
      },
      comparison,
    );
    expect(line).toBe(
      '20 msgs; single node (2 workers, 10,000 subs): 100,000 deliveries/s, p50 10.0 ms, p99 40.0 ms, lost 0; ' +
        'two nodes + Redis (1 worker each, 5,000 + 5,000 subs, publishes to node A): ' +
        '84,000 deliveries/s, p50 12.5 ms, p99 52.0 ms, lost 0, dropped 2; ' +
        'two / single: deliveries/s 0.84× (target ≥ 0.70×), p99 1.30× (target ≤ 1.50×); targets met',
    );
  });

  it('writes "-" for a figure nothing arrived to measure', () => {
    const empty: SetupFigures = {
      deliveriesS: null,
      p50Ms: null,
      p99Ms: null,
      lost: 10,
      dropped: 0,
    };
    const line = nodesSummary(
      {
        messages: 1,
        singleSystem: '2 workers',
        singleSubscribers: 10,
        single,
        workersPerNode: 2,
        nodeSubscribers: [5, 5],
        two: empty,
      },
      compareNodes(single, empty),
    );
    expect(line).toContain('two nodes + Redis (2 workers each, 5 + 5 subs, publishes to node A): ');
    expect(line).toContain('- deliveries/s, p50 -, p99 -, lost 10;');
    expect(line).toContain('deliveries/s n/a (target ≥ 0.70×)');
  });
});
