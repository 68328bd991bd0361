import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { describeRecord, type ChaosRecord } from './record.js';
import { scenarios } from './scenarios.js';

/*
 * Runs the chaos scenarios: real processes under a bounded load, one fault each. Prints one
 * line and one JSON record (`chaos-record {...}`) per scenario; exit code 1 when any
 * expectation failed.
 *
 *   npm run chaos [-- --scenario NAME ... | --short | --json FILE]
 *
 * A scenario's own knobs come from the environment, named THUMBTACK_CHAOS_*:
 *   THUMBTACK_CHAOS_IDLE_MINUTES  memory-churn's idle after its cycles, full form (default 10)
 */

function readOptions(argv: string[]): { names: string[]; short: boolean; json?: string } {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: {
      scenario: { type: 'string', multiple: true },
      short: { type: 'boolean', default: false },
      json: { type: 'string' },
    },
  });
  const names = values.scenario ?? scenarios.map((s) => s.name);
  for (const name of names) {
    if (!scenarios.some((s) => s.name === name)) {
      const known = scenarios.map((s) => s.name).join(', ');
      throw new Error(`--scenario ${name} is not a scenario; known: ${known}`);
    }
  }
  return { names, short: values.short, json: values.json };
}

async function main(): Promise<number> {
  const options = readOptions(process.argv.slice(2));
  const records: ChaosRecord[] = [];
  for (const name of options.names) {
    const scenario = scenarios.find((s) => s.name === name)!;
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), `thumbtack-chaos-${name}-`));
    process.stdout.write(`${name}: ${scenario.summary}\n`);
    try {
      const record = await scenario.run({ short: options.short, dir });
      records.push(record);
      process.stdout.write(`${describeRecord(record)}\nchaos-record ${JSON.stringify(record)}\n`);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }
  if (options.json) fs.writeFileSync(options.json, JSON.stringify(records, null, 2) + '\n');
  const failed = records.filter((r) => r.failures.length > 0).length;
  process.stdout.write(`\n${records.length - failed} of ${records.length} scenarios passed\n`);
  return failed === 0 ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`chaos: ${(err as Error).message}\n`);
    process.exit(2);
  },
);
