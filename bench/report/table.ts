import type { MetricSpec, MetricValue, Workload, WorkloadResult } from '../workloads/workload.js';

const sutTitles: Record<string, string> = {
  thumbtack: 'thumbtack',
  pushpin: 'Pushpin',
  ref: 'ref (bare uWS)',
  backend: 'bare backend',
};

export interface TableRow {
  workload: string;
  metric: MetricSpec;
  values: Record<string, MetricValue>;
}

/** One row per metric of every workload that ran, one value per system. */
export function tableRows(workloads: Workload[], results: WorkloadResult[]): TableRow[] {
  const rows: TableRow[] = [];
  for (const workload of workloads) {
    const mine = results.filter((r) => r.workload === workload.name);
    if (mine.length === 0) continue;
    for (const metric of workload.metrics) {
      const values: Record<string, MetricValue> = {};
      for (const result of mine) {
        values[result.sut] =
          result.status === 'ok' ? (result.metrics[metric.key] ?? null) : result.status;
      }
      if (Object.values(values).every((v) => v === null || v === undefined)) continue;
      rows.push({ workload: workload.name, metric, values });
    }
  }
  return rows;
}

function cell(value: MetricValue | undefined): string {
  if (value === null || value === undefined) return '';
  if (typeof value === 'string') return value;
  if (Math.abs(value) >= 1000) return Math.round(value).toLocaleString('en-US');
  return String(value);
}

function ratio(a: MetricValue | undefined, b: MetricValue | undefined, metric: MetricSpec): string {
  if (metric.better === 'info' || typeof a !== 'number' || typeof b !== 'number' || b === 0)
    return '';
  const r = a / b;
  return `${r >= 10 ? r.toFixed(0) : r >= 1 ? r.toFixed(1) : r.toFixed(2)}×`;
}

/**
 * A Markdown table: metric, each system, and thumbtack's ratio to Pushpin and to the ref.
 * Ratios are plain quotients; the metric's arrow says which direction is better.
 */
export function markdownTable(rows: TableRow[], suts: string[]): string {
  const hasPushpin = suts.includes('pushpin') && suts.includes('thumbtack');
  const hasRef = suts.includes('ref') && suts.includes('thumbtack');
  const head = ['metric', ...suts.map((s) => sutTitles[s] ?? s)];
  if (hasPushpin) head.push('thumbtack / Pushpin');
  if (hasRef) head.push('thumbtack / ref');
  const lines = [
    `| ${head.join(' | ')} |`,
    `|${head.map((_, i) => (i === 0 ? ' --- ' : ' ---: ')).join('|')}|`,
  ];
  for (const row of rows) {
    const arrow = row.metric.better === 'higher' ? ' ↑' : row.metric.better === 'lower' ? ' ↓' : '';
    const unit =
      row.metric.unit === 'count' || row.metric.unit === '' ? '' : ` (${row.metric.unit})`;
    const cells = [`${row.metric.label}${unit}${arrow}`, ...suts.map((s) => cell(row.values[s]))];
    if (hasPushpin) cells.push(ratio(row.values.thumbtack, row.values.pushpin, row.metric));
    if (hasRef) cells.push(ratio(row.values.thumbtack, row.values.ref, row.metric));
    lines.push(`| ${cells.join(' | ')} |`);
  }
  return lines.join('\n');
}
