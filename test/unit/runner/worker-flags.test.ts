import { describe, expect, it } from 'vitest';
import { workerNodeFlags } from '../../../src/runner/worker-flags.js';

describe('workerNodeFlags', () => {
  it('caps the young generation of proxy workers', () => {
    expect(workerNodeFlags('')).toEqual(['--max-semi-space-size=4']);
    expect(workerNodeFlags('--enable-source-maps')).toEqual(['--max-semi-space-size=4']);
  });

  it("leaves the semi-space size to the operator's NODE_OPTIONS when it sets one", () => {
    expect(workerNodeFlags('--max-semi-space-size=16')).toEqual([]);
  });
});
