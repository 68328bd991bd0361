import type { BenchOptions } from '../options.js';
import fs from 'node:fs';
import path from 'node:path';
import { commandLine, cpuSeconds, openFiles, sleep, treeCpu, treeRss } from '../process-tree.js';
import { HttpPublisher, probeItem } from '../publisher.js';
import { probeUntilReached } from './delivery-wait.js';
import { dropNote } from './fanout.js';
import {
  describeCounts,
  fmt,
  type MetricSpec,
  openOptions,
  round,
  type Workload,
  type WorkloadResult,
} from './workload.js';

const settleMs = 1_500;
/**
 * RSS counts once it stops moving: a process just started, or just past a burst of
 * accepts, still frees or grows its heap for a few seconds, which read as memory per
 * connection. Settled: every process within `settleBytes` over the last `settleSamples`.
 */
const settleSampleMs = 500;
const settleSamples = 4;
const settleBytes = 1024 * 1024;
const settleMaxMs = 15_000;
const idleWindowMs = 2_000;
const probeTimeoutMs = 30_000;

/** Log lines about descriptor exhaustion or a connection cap: they say why holds failed. */
const limitPattern = /EMFILE|ENFILE|too many open files|connection (cap|limit) reached|refusing/i;

/** Bytes of each log scanned: a system stuck at its file limit can write gigabytes. */
const logScanMax = 64 * 1024 * 1024;

interface LimitLog {
  count: number;
  first: string[];
  /** Log file → size in bytes, when it is past the scanned part. */
  oversized: Record<string, number>;
}

function limitLogLines(files: string[]): LimitLog {
  const out: LimitLog = { count: 0, first: [], oversized: {} };
  const chunk = Buffer.alloc(1024 * 1024);
  for (const file of files) {
    if (!fs.existsSync(file)) continue;
    const fd = fs.openSync(file, 'r');
    try {
      const size = fs.fstatSync(fd).size;
      if (size > logScanMax) out.oversized[path.basename(file)] = size;
      let carry = '';
      for (let pos = 0; pos < Math.min(size, logScanMax);) {
        const n = fs.readSync(fd, chunk, 0, chunk.length, pos);
        if (n <= 0) break;
        pos += n;
        const lines = (carry + chunk.toString('utf8', 0, n)).split('\n');
        carry = lines.pop() ?? '';
        for (const line of lines) {
          if (!limitPattern.test(line)) continue;
          out.count++;
          if (out.first.length < 3) out.first.push(line.slice(0, 300));
        }
      }
    } finally {
      fs.closeSync(fd);
    }
  }
  return out;
}

/** Processes at (or within 2 % of) their open-files limit. */
function atFileLimit(files: { pid: number; open: number; limit: number }[]): string[] {
  const out: string[] = [];
  for (const { pid, open, limit } of files) {
    if (limit > 0 && open >= limit * 0.98) {
      out.push(
        `${commandLine(pid).split(' ').slice(0, 2).join(' ')} (pid ${pid}) has ${open} of ${limit} files open`,
      );
    }
  }
  return out;
}

type TreeRss = ReturnType<typeof treeRss>;

/** The tree's RSS once no process's RSS moved for a while (bounded); how long that took. */
async function settledRss(pids: number[]): Promise<{ rss: TreeRss; waitedMs: number }> {
  const started = Date.now();
  const samples: TreeRss[] = [treeRss(pids)];
  while (Date.now() - started < settleMaxMs) {
    if (samples.length >= settleSamples) {
      const recent = samples.slice(-settleSamples);
      const isStill = pids.every((_, i) => {
        const values = recent.map((s) => s.processes[i].rss);
        return Math.max(...values) - Math.min(...values) <= settleBytes;
      });
      if (isStill) break;
    }
    await sleep(settleSampleMs);
    samples.push(treeRss(pids));
  }
  return { rss: samples[samples.length - 1], waitedMs: Date.now() - started };
}

/** KiB per connection each process added, named by what it runs. */
function rssPerProcess(before: TreeRss, after: TreeRss, connections: number) {
  return after.processes.map((p) => {
    const was = before.processes.find((b) => b.pid === p.pid)?.rss ?? 0;
    return {
      pid: p.pid,
      command: p.command.split(' ').slice(0, 2).join(' '),
      kib: round((p.rss - was) / connections / 1024, 2),
    };
  });
}

/**
 * N held SSE connections (`hold`) or WebSockets on the WebSocket-over-HTTP route
 * (`hold-ws`): how fast they are accepted, what each costs in resident memory, whether the
 * system idles once they are held, and whether one publish reaches them all.
 */
export function holdWorkload(options: BenchOptions, kind: 'sse' | 'ws'): Workload {
  const name = kind === 'sse' ? 'hold' : 'hold-ws';
  const noun = kind === 'sse' ? 'SSE connections' : 'WebSockets';
  const metrics: MetricSpec[] = [
    {
      key: 'held',
      label: `${name}: connections held (of ${options.hold})`,
      unit: 'count',
      better: 'higher',
    },
    {
      key: 'accept_rate',
      label: `${name}: new holds/s`,
      unit: 'conn/s',
      better: 'higher',
      chart: 'throughput',
    },
    { key: 'establish_s', label: `${name}: time to establish all`, unit: 's', better: 'lower' },
    {
      key: 'rss_per_conn_kib',
      label: `${name}: RSS per held connection`,
      unit: 'KiB',
      better: 'lower',
      chart: 'resource',
    },
    { key: 'idle_cpu_pct', label: `${name}: CPU while idle, holding`, unit: '%', better: 'lower' },
    {
      key: 'probe_reached',
      label: `${name}: reached by one probe publish`,
      unit: 'count',
      better: 'higher',
    },
    {
      key: 'failed',
      label: `${name}: connections failed (after retries)`,
      unit: 'count',
      better: 'lower',
    },
    {
      key: 'retried',
      label: `${name}: attempts refused and retried`,
      unit: 'count',
      better: 'lower',
    },
  ];
  return {
    name,
    metrics,
    connections: options.hold,
    async run({ sut, fleet, log }): Promise<WorkloadResult> {
      const settledBefore = await settledRss(sut.processes());
      const before = settledBefore.rss;
      log(`${name}: opening ${options.hold} ${noun}`);
      const target = { host: '127.0.0.1', port: sut.clientPort };
      const open =
        kind === 'sse'
          ? await fleet.openSse(target, '/stream/hold', options.hold, openOptions(options))
          : await fleet.openWs(target, '/ws/hold', options.hold, openOptions(options));
      const establishS = (open.doneAt - open.startedAt) / 1000;
      await sleep(settleMs);
      const pids = sut.processes();
      const settledAfter = await settledRss(pids);
      const after = settledAfter.rss;
      const files = pids.map((pid) => ({ pid, ...openFiles(pid) }));
      const saturated = atFileLimit(files);
      const limitLog = limitLogLines(sut.logFiles);
      const cpuBefore = pids.map(cpuSeconds);
      const cpuA = treeCpu(pids);
      await sleep(idleWindowMs);
      const idleCpuPct = ((treeCpu(pids) - cpuA) / (idleWindowMs / 1000)) * 100;
      // Per process, to tell which one spins when the total is not near 0.
      const idleCpu = pids.map((pid, i) => ({
        pid,
        command: commandLine(pid).slice(0, 80),
        pct: round(((cpuSeconds(pid) - cpuBefore[i]) / (idleWindowMs / 1000)) * 100, 1),
      }));
      const publisher = new HttpPublisher(sut.publishUrl);
      log(`${name}: ${open.opened} open; probing`);
      const reached =
        open.opened === 0
          ? 0
          : await probeUntilReached(
              fleet,
              () =>
                publisher.publish([
                  probeItem('hold', kind === 'sse' ? 'http-stream' : 'ws-message'),
                ]),
              open.opened,
              probeTimeoutMs,
            );
      await publisher.close();
      const counts = await fleet.report();
      const rssPerConn = open.opened > 0 ? (after.total - before.total) / open.opened / 1024 : NaN;
      const acceptRate = open.opened / establishS;
      const failedNote = open.failed + open.retried > 0 ? ` (${describeCounts(open.errors)})` : '';
      return {
        workload: name,
        sut: sut.name,
        status: open.opened > 0 ? 'ok' : 'failed',
        note: holdNote(
          open.failed + open.retried,
          describeCounts(open.errors),
          saturated,
          limitLog,
        ),
        metrics: {
          held: open.opened - counts.dropped,
          accept_rate: round(acceptRate, 0),
          establish_s: round(establishS),
          rss_per_conn_kib: round(rssPerConn, 1),
          idle_cpu_pct: round(idleCpuPct, 1),
          probe_reached: reached,
          failed: open.failed,
          retried: open.retried,
        },
        detail: {
          errors: open.errors,
          dropped: counts.dropped,
          dropReasons: counts.dropReasons,
          rssBefore: before,
          rssAfter: after,
          settleMs: { before: settledBefore.waitedMs, after: settleMs + settledAfter.waitedMs },
          rssPerConnKibByProcess: rssPerProcess(before, after, Math.max(open.opened, 1)),
          openFiles: files,
          idleCpu,
          limitLog,
        },
        summary:
          `${open.opened}/${options.hold} held in ${fmt(establishS)} s (${fmt(acceptRate)}/s), ` +
          `${fmt(rssPerConn)} KiB RSS each, idle CPU ${fmt(idleCpuPct)} %, probe reached ${reached}, ` +
          `dropped ${counts.dropped}${dropNote(counts.dropReasons)}, failed ${open.failed}, retried ${open.retried}${failedNote}` +
          (saturated.length > 0 ? `; at the open-files limit: ${saturated.join('; ')}` : ''),
      };
    },
  };
}

/** Why holds failed, when they did: refused attempts, processes at their file limit, log lines. */
function holdNote(
  failures: number,
  reasons: string,
  saturated: string[],
  limitLog: LimitLog,
): string | undefined {
  const parts: string[] = [];
  if (failures > 0) parts.push(`failed attempts: ${reasons}`);
  if (saturated.length > 0) parts.push(`at the open-files limit: ${saturated.join('; ')}`);
  if (limitLog.count > 0)
    parts.push(`${limitLog.count} log lines about limits, e.g. ${limitLog.first[0]}`);
  for (const [file, size] of Object.entries(limitLog.oversized)) {
    parts.push(`${file} grew to ${Math.round(size / 2 ** 20)} MiB`);
  }
  return parts.length > 0 ? parts.join('. ') : undefined;
}
