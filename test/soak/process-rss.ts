import { processTree, treeRss } from '../../bench/process-tree.js';

/** RSS in MiB of thumbtack's processes by role: runner, handler, worker 1..N, total. */
export type RssSample = Record<string, number>;

/**
 * Reads the runner's process tree from /proc and names each process by its entry: the
 * runner itself, `dist/handler/main.js`, and the workers (`dist/proxy/main.js`) numbered in
 * PID order. A worker the runner restarted gets a new PID: `pids` shows it.
 */
export function sampleRss(runnerPid: number): { rss: RssSample; pids: Record<string, number> } {
  const { processes } = treeRss(processTree(runnerPid));
  const rss: RssSample = {};
  const pids: Record<string, number> = {};
  let total = 0;
  let workers = 0;
  for (const p of [...processes].sort((a, b) => a.pid - b.pid)) {
    const role =
      p.pid === runnerPid
        ? 'runner'
        : p.command.includes('handler/main')
          ? 'handler'
          : p.command.includes('proxy/main')
            ? `worker ${++workers}`
            : `pid ${p.pid}`;
    rss[role] = mib(p.rss);
    pids[role] = p.pid;
    total += p.rss;
  }
  rss.total = mib(total);
  return { rss, pids };
}

function mib(bytes: number): number {
  return Math.round((bytes / 1048576) * 10) / 10;
}
