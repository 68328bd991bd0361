import type { ChildProcess } from 'node:child_process';
import readline from 'node:readline';

/** A child process's output, line by line (stdout and stderr as they come), and waits on it. */
export interface OutputLines {
  readonly lines: string[];
  /**
   * The first line at index `since` or later that matches. Rejects, with the output so far,
   * once `timeoutMs` passes or the process has ended and closed its output without one.
   */
  waitForLine(
    match: (line: string) => boolean,
    options?: { since?: number; timeoutMs?: number },
  ): Promise<string>;
}

/** Collects the lines of `child` (`name` in errors) from now on. */
export function collectLines(child: ChildProcess, name: string): OutputLines {
  const lines: string[] = [];
  const waiters = new Set<() => void>();
  const wake = (): void => {
    for (const waiter of [...waiters]) waiter();
  };
  for (const stream of [child.stdout, child.stderr]) {
    if (!stream) continue;
    readline.createInterface({ input: stream }).on('line', (line) => {
      lines.push(line);
      wake();
    });
  }
  // 'close', not 'exit': the last lines are read by then.
  let isClosed = false;
  child.once('close', () => {
    isClosed = true;
    wake();
  });
  const output = (): string => `; output:\n${lines.join('\n')}`;

  const waitForLine: OutputLines['waitForLine'] = (match, options = {}) => {
    const { since = 0, timeoutMs = 10_000 } = options;
    return new Promise((resolve, reject) => {
      const finish = (settle: () => void): void => {
        clearTimeout(timer);
        waiters.delete(check);
        settle();
      };
      const check = (): void => {
        const found = lines.slice(since).find(match);
        if (found !== undefined) finish(() => resolve(found));
        else if (isClosed) {
          const end = child.exitCode ?? child.signalCode;
          finish(() => reject(new Error(`${name} exited (${end}) without the line${output()}`)));
        }
      };
      const timer = setTimeout(
        () =>
          finish(() =>
            reject(new Error(`no matching line from ${name} within ${timeoutMs} ms${output()}`)),
          ),
        timeoutMs,
      );
      waiters.add(check);
      check();
    });
  };
  return { lines, waitForLine };
}
