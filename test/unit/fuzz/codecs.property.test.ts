import fc from 'fast-check';
import { describe, it } from 'vitest';
import { fuzzTargets } from '../../fuzz/registry.js';
import { readRegressions } from '../../fuzz/regressions.js';
import { targetProperty } from '../../fuzz/target.js';

/*
 * Property tests (issue 16), one per fuzz target in test/fuzz/targets: every codec, given
 * arbitrary input, returns a value or throws its own typed error, never anything else (a
 * TypeError, a RangeError, a stack overflow); encoders and decoders round-trip. A fixed seed
 * keeps `npm test` deterministic; `npm run fuzz` runs the same properties for millions of
 * runs and records what fails in regressions/<target>.json, replayed here first.
 * FUZZ_RUNS and FUZZ_SEED override the runs per property and the seed.
 */

const runs = process.env.FUZZ_RUNS === undefined ? undefined : Number(process.env.FUZZ_RUNS);
const seed = Number(process.env.FUZZ_SEED ?? 20261206);

describe('codec properties (fixed seed, recorded counterexamples first)', () => {
  for (const target of fuzzTargets) {
    it(`${target.summary} [${target.name}]`, async () => {
      const examples = readRegressions(target.name).map((c): [unknown] => [c.value]);
      await fc.assert(targetProperty(target), {
        numRuns: runs ?? target.testRuns ?? 2000,
        seed,
        examples,
      });
    });
  }
});
