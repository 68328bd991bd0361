import fs from 'node:fs';

/** PIDs of `root` and all its descendants, read from /proc (Linux). */
export function processTree(root: number): number[] {
  const children = new Map<number, number[]>();
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const stat = readProc(`/proc/${name}/stat`);
    if (!stat) continue;
    // Fields after the parenthesised command: state, ppid, ...
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    const list = children.get(ppid);
    if (list) list.push(Number(name));
    else children.set(ppid, [Number(name)]);
  }
  const out: number[] = [];
  const queue = [root];
  while (queue.length > 0 && out.length < 10_000) {
    const pid = queue.shift()!;
    if (!isAlive(pid)) continue;
    out.push(pid);
    queue.push(...(children.get(pid) ?? []));
  }
  return out;
}

/** Resident set size of a process in bytes; 0 when it is gone. */
function rssBytes(pid: number): number {
  const status = readProc(`/proc/${pid}/status`);
  const match = status ? /VmRSS:\s+(\d+) kB/.exec(status) : null;
  return match ? Number(match[1]) * 1024 : 0;
}

/** CPU time (user + system) a process has used, in seconds; 0 when it is gone. */
export function cpuSeconds(pid: number): number {
  const stat = readProc(`/proc/${pid}/stat`);
  if (!stat) return 0;
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // utime and stime are fields 14 and 15 of the full line, 12 and 13 after the command.
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** CPU time the processes have used together, in seconds. */
export function treeCpu(pids: number[]): number {
  return pids.reduce((a, pid) => a + cpuSeconds(pid), 0);
}

export function commandLine(pid: number): string {
  return (readProc(`/proc/${pid}/cmdline`) ?? '').replaceAll('\0', ' ').trim();
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * Stops a process tree we started: SIGTERM to the root, then, after `graceMs`, SIGKILL to
 * every PID of the tree (as recorded before the signal) that is still alive.
 */
export async function stopTree(root: number, graceMs: number): Promise<void> {
  const pids = processTree(root);
  if (pids.length === 0) return;
  try {
    process.kill(root, 'SIGTERM');
  } catch {
    // already gone
  }
  const deadline = Date.now() + graceMs;
  while (Date.now() < deadline && pids.some(isAlive)) await sleep(50);
  for (const pid of pids) {
    if (!isAlive(pid)) continue;
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // exited meanwhile
    }
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function readProc(file: string): string | undefined {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
}

/** Open file descriptors of a process and its soft limit; zeros when unreadable. */
export function openFiles(pid: number): { open: number; limit: number } {
  let open: number;
  try {
    open = fs.readdirSync(`/proc/${pid}/fd`).length;
  } catch {
    return { open: 0, limit: 0 };
  }
  const limits = readProc(`/proc/${pid}/limits`) ?? '';
  const match = /Max open files\s+(\d+)/.exec(limits);
  return { open, limit: match ? Number(match[1]) : 0 };
}

/** Sum of RSS over the system's process tree, with each process for the detail. */
export function treeRss(pids: number[]): {
  total: number;
  processes: { pid: number; command: string; rss: number }[];
} {
  const processes = pids.map((pid) => ({
    pid,
    command: commandLine(pid).slice(0, 120),
    rss: rssBytes(pid),
  }));
  return { total: processes.reduce((a, p) => a + p.rss, 0), processes };
}
