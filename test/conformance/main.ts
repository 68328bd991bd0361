import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { startThumbtack } from '../../bench/sut/thumbtack.js';
import { conformanceGroups } from './cases.js';
import { startEchoBackend } from './echo-backend.js';
import { isOpenEndedDeviation, knownDeviation } from './known-deviations.js';
import { formatReport } from './report.js';
import { conformanceMessageMax as messageMax, routeKinds, runCases } from './run-case.js';

/*
 * WebSocket protocol conformance (issue 16): every case on a passthrough route and a
 * WebSocket-over-HTTP route of a real thumbtack (one worker, --ws-max-message-size 64 KiB), with raw
 * frames. Prints per route a table per group and each deviation; exit code 1 when a
 * deviation is not a known uWS one.
 *
 *   npm run conformance [-- --group N ... | --json FILE]
 */

async function main(): Promise<number> {
  const { values } = parseArgs({
    args: process.argv.slice(2),
    strict: true,
    options: { group: { type: 'string', multiple: true }, json: { type: 'string' } },
  });
  const all = conformanceGroups(messageMax);
  const groups = values.group ? all.filter((g) => values.group!.includes(String(g.id))) : all;
  if (groups.length === 0) throw new Error(`--group: none of ${all.map((g) => g.id).join(', ')}`);
  const workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'thumbtack-conformance-'));
  const backend = await startEchoBackend();
  try {
    // The bench starts thumbtack with its own flags; settings also come from the environment.
    process.env['THUMBTACK_WS_MAX_MESSAGE_SIZE'] = String(messageMax);
    const sut = await startThumbtack({ backendPort: backend.port, workers: 1, workDir });
    try {
      const started = Date.now();
      const results = await runCases(
        groups,
        routeKinds,
        { port: sut.clientPort, backend, timeoutMs: 2_000, runId: 'run' },
        8,
        (c) => isOpenEndedDeviation(c.id),
      );
      process.stdout.write(`${formatReport(groups, results)}\n`);
      const cases = results.length;
      const deviating = results.filter((r) => r.deviations.length > 0);
      const unknown = deviating.filter((r) => !knownDeviation(r.testCase.id));
      process.stdout.write(
        `${cases} case runs in ${Date.now() - started} ms: ${cases - deviating.length} conform, ` +
          `${deviating.length} deviate (${unknown.length} not known)\n`,
      );
      if (values.json) {
        const records = results.map((r) => ({
          case: r.testCase.id,
          route: r.route,
          title: r.testCase.title,
          rfc: r.testCase.rfc,
          deviations: r.deviations,
          observed: r.observed,
          ms: r.ms,
        }));
        fs.writeFileSync(values.json, JSON.stringify(records, null, 2) + '\n');
      }
      return unknown.length === 0 ? 0 : 1;
    } finally {
      await sut.stop();
    }
  } finally {
    await backend.close();
    fs.rmSync(workDir, { recursive: true, force: true });
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`conformance: ${(err as Error).message}\n`);
    process.exit(2);
  },
);
