import type { TableRow } from './table.js';

const colors: Record<string, string> = {
  thumbtack: '#2b6cb0',
  pushpin: '#c05621',
  ref: '#718096',
  backend: '#2f855a',
};
const width = 960;
const labelWidth = 330;
const barMax = 500;
const barHeight = 11;
const barGap = 2;
const rowGap = 10;

function escape(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

function label(value: number): string {
  if (value >= 1000) return Math.round(value).toLocaleString('en-US');
  return String(Math.round(value * 100) / 100);
}

/**
 * Horizontal bars, one group per charted metric (throughput, then latency percentiles of
 * each workload), one bar per system. Each group has its own linear scale, so every metric
 * reads as a comparison between systems rather than against unrelated units.
 */
export function chartSvg(rows: TableRow[], suts: string[], title: string): string {
  const charted = rows.filter((r) => r.metric.chart !== undefined);
  const parts: string[] = [];
  let y = 56;
  let workload = '';
  for (const row of charted) {
    if (row.workload !== workload) {
      workload = row.workload;
      y += 8;
      parts.push(`<text x="12" y="${y + 12}" class="w">${escape(workload)}</text>`);
      y += 22;
    }
    const present = suts.filter((s) => typeof row.values[s] === 'number');
    if (present.length === 0) continue;
    const max = Math.max(...present.map((s) => row.values[s] as number), 1e-9);
    const groupHeight = present.length * (barHeight + barGap);
    const arrow = row.metric.better === 'lower' ? ' ↓' : row.metric.better === 'higher' ? ' ↑' : '';
    parts.push(
      `<text x="24" y="${y + groupHeight / 2 + 4}" class="m">${escape(`${row.metric.label} (${row.metric.unit})${arrow}`)}</text>`,
    );
    for (const sut of present) {
      const value = row.values[sut] as number;
      const w = Math.max(1, (value / max) * barMax);
      parts.push(
        `<rect x="${labelWidth}" y="${y}" width="${w.toFixed(1)}" height="${barHeight}" fill="${colors[sut] ?? '#444'}"/>`,
        `<text x="${labelWidth + w + 4}" y="${y + barHeight - 1}" class="v">${escape(label(value))}</text>`,
      );
      y += barHeight + barGap;
    }
    y += rowGap;
  }
  const legend = suts
    .map(
      (sut, i) =>
        `<rect x="${12 + i * 150}" y="30" width="12" height="12" fill="${colors[sut] ?? '#444'}"/>` +
        `<text x="${30 + i * 150}" y="40" class="v">${escape(sut)}</text>`,
    )
    .join('');
  const height = y + 16;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}">`,
    '<style>text{font-family:sans-serif;fill:#1a202c}.t{font-size:15px;font-weight:bold}',
    '.w{font-size:14px;font-weight:bold}.m{font-size:11px}.v{font-size:10px}</style>',
    `<rect width="${width}" height="${height}" fill="#fff"/>`,
    `<text x="12" y="20" class="t">${escape(title)}</text>`,
    legend,
    ...parts,
    '</svg>',
    '',
  ].join('\n');
}
