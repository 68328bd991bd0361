import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';

/*
 * Runs tests several times with CPU-bound processes beside them, the way a developer's busy
 * machine runs them, and reports every failure by test name. A test that fails only here
 * waits on time rather than on an event, or exposes a product race.
 *
 *   npm run test:stress -- --runs 5 --load 1 [--files test/integration/ws-publish.test.ts]
 *
 * --load N starts N busy-looping processes for each run (each stops itself after the run's
 * bound if this script dies). Exit code 1 when any run had a failure.
 */

interface Options {
  runs: number;
  load: number;
  files: string[];
  /** Bound of one run, in minutes: vitest is stopped and the run counted as failed past it. */
  runMinutes: number;
}

interface JsonReport {
  numPassedTests?: number;
  numFailedTests?: number;
  testResults?: {
    name: string;
    assertionResults?: { fullName: string; status: string; failureMessages?: string[] }[];
  }[];
}

interface Failure {
  file: string;
  test: string;
  message: string;
}

const projectRoot = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../../..');

function readOptions(argv: string[]): Options {
  const { values, positionals } = parseArgs({
    args: argv,
    strict: true,
    allowPositionals: true,
    options: {
      runs: { type: 'string', default: '5' },
      load: { type: 'string', default: '1' },
      files: { type: 'string', multiple: true },
      'run-minutes': { type: 'string', default: '15' },
    },
  });
  const count = (name: string, text: string, min: number): number => {
    const n = Number(text);
    if (!Number.isInteger(n) || n < min) {
      throw new Error(`--${name} must be an integer >= ${min}, not ${JSON.stringify(text)}`);
    }
    return n;
  };
  return {
    runs: count('runs', values.runs, 1),
    load: count('load', values.load, 0),
    files: [...(values.files ?? []), ...positionals],
    runMinutes: count('run-minutes', values['run-minutes'], 1),
  };
}

/** A process that keeps one core busy until killed, or until `ms` have passed. */
function startBurner(ms: number): ChildProcess {
  const code = `const end = Date.now() + ${ms}; let x = 0; while (Date.now() < end) x++;`;
  return spawn(process.execPath, ['-e', code], { stdio: 'ignore' });
}

function runVitest(files: string[], report: string, boundMs: number): Promise<number | null> {
  const args = ['vitest', 'run', ...(files.length > 0 ? files : ['test/integration'])];
  args.push('--reporter=dot', '--reporter=json', `--outputFile.json=${report}`);
  const child = spawn('npx', args, { cwd: projectRoot, stdio: ['ignore', 'inherit', 'inherit'] });
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGTERM'), boundMs);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve(code);
    });
  });
}

function failuresOf(report: JsonReport): Failure[] {
  const out: Failure[] = [];
  for (const file of report.testResults ?? []) {
    for (const test of file.assertionResults ?? []) {
      if (test.status !== 'failed') continue;
      const message = (test.failureMessages?.[0] ?? '').split('\n')[0]!.slice(0, 300);
      out.push({ file: path.relative(projectRoot, file.name), test: test.fullName, message });
    }
  }
  return out;
}

async function main(): Promise<number> {
  const options = readOptions(process.argv.slice(2));
  const boundMs = options.runMinutes * 60_000;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'thumbtack-stress-'));
  const byTest = new Map<string, { failure: Failure; runs: number[] }>();
  let failedRuns = 0;
  for (let run = 1; run <= options.runs; run++) {
    const burners = Array.from({ length: options.load }, () => startBurner(boundMs));
    const report = path.join(dir, `run-${run}.json`);
    const started = Date.now();
    let code: number | null;
    try {
      code = await runVitest(options.files, report, boundMs);
    } finally {
      for (const burner of burners) burner.kill('SIGKILL');
    }
    let parsed: JsonReport = {};
    try {
      parsed = JSON.parse(fs.readFileSync(report, 'utf8')) as JsonReport;
    } catch {
      // no report: vitest did not finish (the bound) or did not start; counted below
    }
    const failures = failuresOf(parsed);
    const seconds = Math.round((Date.now() - started) / 1000);
    const passed = parsed.numPassedTests ?? 0;
    const isFailed = code !== 0 || failures.length > 0;
    if (isFailed) failedRuns++;
    process.stdout.write(
      `run ${run}/${options.runs}: ${passed} passed, ${failures.length} failed, ${seconds} s` +
        `${code !== 0 && failures.length === 0 ? ` (vitest exited ${code})` : ''}\n`,
    );
    for (const failure of failures) {
      process.stdout.write(`  FAIL ${failure.file} > ${failure.test}\n       ${failure.message}\n`);
      const key = `${failure.file} > ${failure.test}`;
      const seen = byTest.get(key) ?? { failure, runs: [] };
      seen.runs.push(run);
      byTest.set(key, seen);
    }
  }
  process.stdout.write(
    `\n${options.runs - failedRuns} of ${options.runs} runs passed with --load ${options.load}\n`,
  );
  for (const [name, { runs }] of byTest) {
    process.stdout.write(
      `  failed in run${runs.length > 1 ? 's' : ''} ${runs.join(', ')}: ${name}\n`,
    );
  }
  return failedRuns === 0 ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`test:stress: ${(err as Error).message}\n`);
    process.exit(2);
  },
);
