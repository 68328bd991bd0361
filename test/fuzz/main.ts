import { parseArgs } from 'node:util';
import fc from 'fast-check';
import { fuzzTargets } from './registry.js';
import { appendRegressions, regressionsDir, toJson, type RegressionCase } from './regressions.js';
import { targetProperty, type FuzzTarget } from './target.js';

/*
 * Runs every fuzz target (test/fuzz/targets) for many runs: batches of runs with seeds
 * counting up from --seed, until --runs per target or the target's share of --seconds is
 * used. Prints one line per target: runs, failures (batches that found a counterexample),
 * seconds. The smallest shrunk counterexamples are appended to
 * test/unit/fuzz/regressions/<target>.json, which `npm test` replays against the same
 * property. Exit code 1 when anything failed.
 *
 *   npm run fuzz [-- --runs 200000 --seconds 300 --seed 1 --target NAME ...]
 */

interface Options {
  runs: number;
  seconds: number;
  seed: number;
  targets: readonly FuzzTarget[];
}

/**
 * Runs per batch start small and double while a batch takes under a second, so a slow
 * target (Grip-Sig signs a token per run) stops near its time bound and a fast one does
 * not pay for many small batches.
 */
const FIRST_BATCH = 100;
const BATCH_MAX = 20_000;
/**
 * Counterexamples kept per target and run, smallest first: batches often shrink the same
 * defect to several near-identical values, and a few of them pin it down.
 */
const KEPT_PER_RUN = 3;

function readOptions(argv: string[]): Options {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: {
      runs: { type: 'string', default: '200000' },
      seconds: { type: 'string', default: '300' },
      seed: { type: 'string', default: String(Date.now() % 2 ** 31) },
      target: { type: 'string', multiple: true },
    },
  });
  const number = (name: 'runs' | 'seconds' | 'seed'): number => {
    const n = Number(values[name]);
    if (!Number.isSafeInteger(n) || n < 0) throw new Error(`--${name} must be a whole number`);
    return n;
  };
  const names = values.target ?? fuzzTargets.map((t) => t.name);
  const targets = names.map((name) => {
    const target = fuzzTargets.find((t) => t.name === name);
    if (!target) {
      throw new Error(
        `--target ${name} is not a target; known: ${fuzzTargets.map((t) => t.name).join(', ')}`,
      );
    }
    return target;
  });
  return { runs: number('runs'), seconds: number('seconds'), seed: number('seed'), targets };
}

interface TargetResult {
  runs: number;
  failures: RegressionCase[];
  seconds: number;
}

async function fuzzTarget(
  target: FuzzTarget,
  runs: number,
  budgetMs: number,
  firstSeed: number,
): Promise<TargetResult> {
  const started = performance.now();
  const property = targetProperty(target);
  const failures: RegressionCase[] = [];
  let done = 0;
  let size = FIRST_BATCH;
  for (let batch = 0; done < runs && performance.now() - started < budgetMs; batch++) {
    const seed = (firstSeed + batch) % 2 ** 31;
    const batchStarted = performance.now();
    const details = await fc.check(property, { numRuns: Math.min(size, runs - done), seed });
    if (performance.now() - batchStarted < 1000) size = Math.min(size * 2, BATCH_MAX);
    done += details.numRuns;
    if (details.failed && details.counterexample) {
      const error = details.errorInstance;
      failures.push({
        error: (error instanceof Error ? error.message : String(error))
          .replace(/\s+/g, ' ')
          .slice(0, 160),
        found: new Date().toISOString(),
        seed,
        value: details.counterexample[0],
      });
    }
  }
  return { runs: done, failures, seconds: (performance.now() - started) / 1000 };
}

function smallest(cases: RegressionCase[], count: number): RegressionCase[] {
  const distinct = new Map(cases.map((c) => [JSON.stringify(toJson(c.value)), c]));
  return [...distinct]
    .sort(([a], [b]) => a.length - b.length)
    .slice(0, count)
    .map(([, c]) => c);
}

async function main(): Promise<number> {
  const options = readOptions(process.argv.slice(2));
  process.stdout.write(
    `fuzzing ${options.targets.length} targets: up to ${options.runs} runs each, ` +
      `${options.seconds} s in all, seed ${options.seed}\n`,
  );
  const started = performance.now();
  let totalRuns = 0;
  let totalFailures = 0;
  const width = Math.max(...options.targets.map((t) => t.name.length));
  for (const [i, target] of options.targets.entries()) {
    // Each target gets an equal share of the time left, so a fast one leaves time to the rest.
    const leftMs = options.seconds * 1000 - (performance.now() - started);
    const budgetMs = Math.max(leftMs / (options.targets.length - i), 0);
    const result = await fuzzTarget(target, options.runs, budgetMs, options.seed);
    const added = appendRegressions(target.name, smallest(result.failures, KEPT_PER_RUN));
    totalRuns += result.runs;
    totalFailures += result.failures.length;
    process.stdout.write(
      `${target.name.padEnd(width)}  runs ${String(result.runs).padStart(9)}  ` +
        `failures ${String(result.failures.length).padStart(3)}  ` +
        `seconds ${result.seconds.toFixed(1).padStart(6)}` +
        (added > 0 ? `  (${added} new in ${regressionsDir}/${target.name}.json)` : '') +
        '\n',
    );
    const errors = new Set(result.failures.map((f) => f.error));
    for (const error of [...errors].slice(0, KEPT_PER_RUN)) process.stdout.write(`  ${error}\n`);
  }
  const seconds = ((performance.now() - started) / 1000).toFixed(1);
  process.stdout.write(`total  runs ${totalRuns}  failures ${totalFailures}  seconds ${seconds}\n`);
  return totalFailures === 0 ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`fuzz: ${(err as Error).message}\n`);
    process.exit(2);
  },
);
