/** One line: [x, y] points in x order; y null leaves a break. */
export interface Series {
  name: string;
  points: [number, number | null][];
}

/** One chart of lines sharing a y axis. */
export interface Panel {
  title: string;
  unit: string;
  series: Series[];
}

const width = 960;
const panelHeight = 250;
const left = 70;
const right = 190;
const top = 28;
const bottom = 36;
const plotWidth = width - left - right;
const plotHeight = panelHeight - top - bottom;
const palette = ['#2b6cb0', '#c05621', '#2f855a', '#6b46c1', '#b83280', '#718096', '#d69e2e'];

function escape(text: string): string {
  return text
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;');
}

/** A round step (1, 2 or 5 × 10^n) giving about `count` ticks up to `max`. */
function tickStep(max: number, count: number): number {
  const raw = max / count;
  const power = 10 ** Math.floor(Math.log10(raw));
  const n = raw / power;
  return (n <= 1 ? 1 : n <= 2 ? 2 : n <= 5 ? 5 : 10) * power;
}

function label(value: number): string {
  if (Math.abs(value) >= 1000) return Math.round(value).toLocaleString('en-US');
  return String(Math.round(value * 100) / 100);
}

function timeLabel(seconds: number, isMinutes: boolean): string {
  return isMinutes ? `${label(seconds / 60)} min` : `${label(seconds)} s`;
}

function panelSvg(panel: Panel, y0: number, xMax: number): string {
  const values = panel.series.flatMap((s) => s.points.map((p) => p[1]).filter((v) => v !== null));
  const yMaxData = Math.max(1e-9, ...(values as number[]));
  const yStep = tickStep(yMaxData, 5);
  const yMax = Math.ceil(yMaxData / yStep) * yStep;
  const isMinutes = xMax > 180;
  const xStep = isMinutes ? tickStep(xMax / 60, 8) * 60 : tickStep(xMax, 8);
  const px = (x: number) => left + (x / xMax) * plotWidth;
  const py = (y: number) => y0 + top + plotHeight - (y / yMax) * plotHeight;
  const out: string[] = [
    `<text x="${left}" y="${y0 + 18}" class="p">${escape(`${panel.title} (${panel.unit})`)}</text>`,
  ];
  for (let y = 0; y <= yMax + yStep / 2; y += yStep) {
    out.push(
      `<line x1="${left}" x2="${left + plotWidth}" y1="${py(y).toFixed(1)}" y2="${py(y).toFixed(1)}" class="g"/>`,
      `<text x="${left - 6}" y="${(py(y) + 4).toFixed(1)}" class="a" text-anchor="end">${label(y)}</text>`,
    );
  }
  for (let x = 0; x <= xMax + xStep / 2; x += xStep) {
    out.push(
      `<line x1="${px(x).toFixed(1)}" x2="${px(x).toFixed(1)}" y1="${y0 + top}" y2="${y0 + top + plotHeight}" class="g"/>`,
      `<text x="${px(x).toFixed(1)}" y="${y0 + top + plotHeight + 16}" class="a" text-anchor="middle">${timeLabel(x, isMinutes)}</text>`,
    );
  }
  out.push(
    `<rect x="${left}" y="${y0 + top}" width="${plotWidth}" height="${plotHeight}" class="f"/>`,
  );
  panel.series.forEach((series, i) => {
    const color = palette[i % palette.length];
    // A null value breaks the line: one polyline per unbroken run.
    const runs: string[][] = [[]];
    for (const [x, y] of series.points) {
      if (y === null) runs.push([]);
      else runs.at(-1)!.push(`${px(x).toFixed(1)},${py(y).toFixed(1)}`);
    }
    const lines = runs
      .filter((r) => r.length > 0)
      .map((r) =>
        r.length === 1
          ? `<circle cx="${r[0].split(',')[0]}" cy="${r[0].split(',')[1]}" r="2" fill="${color}"/>`
          : `<polyline points="${r.join(' ')}" fill="none" stroke="${color}" stroke-width="1.6"/>`,
      );
    const last = [...series.points].reverse().find((p) => p[1] !== null)?.[1] ?? undefined;
    const ly = y0 + top + 10 + i * 18;
    out.push(
      `<g class="series" data-panel="${escape(panel.title)}" data-name="${escape(series.name)}">`,
      `<title>${escape(series.name)}</title>`,
      ...lines,
      `<line x1="${left + plotWidth + 12}" x2="${left + plotWidth + 32}" y1="${ly}" y2="${ly}" stroke="${color}" stroke-width="3"/>`,
      `<text x="${left + plotWidth + 38}" y="${ly + 4}" class="l">${escape(series.name)}${last === undefined || last === null ? '' : `: ${label(last)}`}</text>`,
      '</g>',
    );
  });
  return out.join('\n');
}

/**
 * Line charts over time, one panel under the other, sharing the x axis (seconds from the
 * start): plain SVG that any browser shows, with each line's last value in its legend.
 */
export function timeSeriesSvg(title: string, subtitle: string, panels: Panel[]): string {
  const xs = panels.flatMap((p) => p.series.flatMap((s) => s.points.map((q) => q[0])));
  const xMax = Math.max(1, ...xs);
  const head = 50;
  const height = head + panels.length * panelHeight + 10;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}">`,
    '<style>text{font-family:sans-serif;fill:#1a202c}.t{font-size:15px;font-weight:bold}',
    '.s{font-size:11px;fill:#4a5568}.p{font-size:13px;font-weight:bold}.a{font-size:10px;fill:#4a5568}',
    '.l{font-size:11px}.g{stroke:#e2e8f0;stroke-width:1}.f{fill:none;stroke:#a0aec0}</style>',
    `<rect width="${width}" height="${height}" fill="#fff"/>`,
    `<text x="12" y="20" class="t">${escape(title)}</text>`,
    `<text x="12" y="38" class="s">${escape(subtitle)}</text>`,
    ...panels.map((p, i) => panelSvg(p, head + i * panelHeight, xMax)),
    '</svg>',
    '',
  ].join('\n');
}
