import fs from 'node:fs';
import { pathToFileURL } from 'node:url';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  /** Samples per source line inside this function (whole profile, not windowed). */
  positionTicks?: { line: number; ticks: number }[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

export interface SelfTime {
  function: string;
  location: string;
  selfMs: number;
  pct: number;
  /** Hottest lines of the compiled file, e.g. `L80 71%` (whole profile). */
  hotLines: string;
}

export interface ProfileSummary {
  file: string;
  /** Monotonic µs window the summary was cut to, if any. */
  window?: [number, number];
  totalMs: number;
  /** Share of samples where the process waited for I/O. */
  idlePct: number;
  top: SelfTime[];
}

/**
 * Self time per function (samples × interval), largest first, idle time left out of the top.
 * With `window` (monotonic µs, the clock of the samples) only samples inside it count.
 */
export function summariseProfile(
  file: string,
  top = 20,
  window?: [number, number],
): ProfileSummary {
  const profile = JSON.parse(fs.readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const selfUs = new Map<string, number>();
  const keyOf = (node: ProfileNode) => {
    const { functionName, url, lineNumber } = node.callFrame;
    const shortUrl = url.replace(/^file:\/\//, '').replace(/^.*\/(node_modules|dist)\//, '$1/');
    return `${functionName || '(anonymous)'}\t${shortUrl ? `${shortUrl}:${lineNumber + 1}` : ''}`;
  };
  const lineTicks = new Map<string, Map<number, number>>();
  for (const node of profile.nodes) {
    if (!node.positionTicks) continue;
    const key = keyOf(node);
    const lines = lineTicks.get(key) ?? new Map<number, number>();
    lineTicks.set(key, lines);
    for (const { line, ticks } of node.positionTicks)
      lines.set(line, (lines.get(line) ?? 0) + ticks);
  }
  let totalUs = 0;
  let idleUs = 0;
  let at = profile.startTime;
  for (let i = 0; i < profile.samples.length; i++) {
    const node = byId.get(profile.samples[i]);
    const delta = profile.timeDeltas[i] ?? 0;
    at += delta;
    if (!node || (window && (at < window[0] || at > window[1]))) continue;
    totalUs += delta;
    if (node.callFrame.functionName === '(idle)') {
      idleUs += delta;
      continue;
    }
    const key = keyOf(node);
    selfUs.set(key, (selfUs.get(key) ?? 0) + delta);
  }
  const busyUs = Math.max(1, totalUs - idleUs);
  const rows = [...selfUs.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, top)
    .map(([key, us]) => {
      const [fn, location] = key.split('\t');
      return {
        function: fn,
        location,
        selfMs: Math.round(us / 100) / 10,
        pct: Math.round((us / busyUs) * 1000) / 10,
        hotLines: hotLines(lineTicks.get(key)),
      };
    });
  return {
    file,
    window,
    totalMs: Math.round(totalUs / 1000),
    idlePct: Math.round((idleUs / Math.max(1, totalUs)) * 1000) / 10,
    top: rows,
  };
}

function hotLines(lines: Map<number, number> | undefined): string {
  if (!lines || lines.size === 0) return '';
  const total = [...lines.values()].reduce((a, b) => a + b, 0);
  return [...lines.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, 3)
    .map(([line, ticks]) => `L${line} ${Math.round((ticks / total) * 100)}%`)
    .join(', ');
}

export function formatProfile(summary: ProfileSummary, title: string): string {
  const lines = [
    `${title}: ${summary.totalMs} ms ${summary.window ? 'in the measured window' : 'profiled'}, ` +
      `${summary.idlePct} % idle; top self time (% of busy):`,
    ...summary.top.map(
      (r) =>
        `  ${r.pct.toFixed(1).padStart(5)} %  ${r.selfMs.toFixed(1).padStart(8)} ms  ${r.function}  ${r.location}` +
        (r.hotLines ? `  [${r.hotLines}]` : ''),
    ),
  ];
  return lines.join('\n');
}

// Standalone: node dist/bench/report/profile-summary.js FILE.cpuprofile [TOP]
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const [file, top] = process.argv.slice(2);
  if (file) console.log(formatProfile(summariseProfile(file, Number(top ?? 20)), file));
}
