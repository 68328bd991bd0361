import { spawn } from 'node:child_process';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { expect, test } from 'vitest';
import { preciseNow } from '../../src/ipc/clock.js';
import { projectRoot } from '../support/thumbtack.js';

/*
 * The subscribe race compares a handler's stamp with a worker's: the property that makes it
 * exact is that two processes' readings respect causality to well under a millisecond.
 * The events compared there are at least a backend round trip apart, so readings must
 * agree to within 0.1 ms; on a loaded machine they differ by up to some tens of µs.
 */
const toleranceMs = 0.1;

test('preciseNow in another process agrees with this one: a reading taken between two of ours lies between them, within 0.1 ms', async () => {
  const clock = pathToFileURL(path.join(projectRoot, 'dist/src/ipc/clock.js')).href;
  const script = `import { preciseNow } from ${JSON.stringify(clock)};
preciseNow();
process.stdin.on('data', () => process.stdout.write(preciseNow() + '\\n'));`;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  preciseNow();
  const lines = child.stdout.setEncoding('utf8');
  let buffered = '';
  const next = (): Promise<number> =>
    new Promise((resolve) => {
      const onData = (chunk: string): void => {
        buffered += chunk;
        const nl = buffered.indexOf('\n');
        if (nl === -1) return;
        lines.off('data', onData);
        const line = buffered.slice(0, nl);
        buffered = buffered.slice(nl + 1);
        resolve(Number(line));
      };
      lines.on('data', onData);
    });
  try {
    const outOfOrder: string[] = [];
    for (let i = 0; i < 300; i++) {
      const reply = next();
      const before = preciseNow();
      child.stdin.write('x');
      const theirs = await reply;
      const after = preciseNow();
      if (theirs < before - toleranceMs || theirs > after + toleranceMs) {
        outOfOrder.push(`${before} ${theirs} ${after}`);
      }
    }
    expect(outOfOrder).toEqual([]);
  } finally {
    child.kill();
  }
});
