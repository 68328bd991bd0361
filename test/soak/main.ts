import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';
import { stopTree } from '../../bench/process-tree.js';
import { HttpPublisher } from '../../bench/publisher.js';
import { spawnLogged, waitForLog } from '../../bench/sut/sut.js';
import { startThumbtack } from '../../bench/sut/thumbtack.js';
import { SoakGenerators } from './generators.js';
import {
  transports,
  type GeneratorConfig,
  type GeneratorSample,
  type Transport,
} from './messages.js';
import { readOptions, type SoakOptions } from './options.js';
import { sampleRss, type RssSample } from './process-rss.js';
import { PublishLog } from './publish-log.js';
import { PublishStream } from './publish-stream.js';
import { reconcile, round, TransportTally, type TallyByTransport } from './tally.js';
import { timeSeriesSvg, type Panel } from './time-series-svg.js';
import { cleanups, runScript } from '../../bench/script-run.js';

/*
 * The soak: thumbtack's runner (bin/thumbtack.js) in front of a GRIP backend, connections on
 * every transport opening and closing all the time, items published at an even rate, and
 * every item checked per connection. Prints one line per interval and a summary line;
 * writes soak.json and soak.svg; exit code 1 when anything was lost, duplicated, out of
 * order or dropped. What counts is defined in test/soak/README.md.
 *
 *   npm run soak -- --minutes 10        (npm run soak -- --help)
 */

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const backendEntry = fileURLToPath(new URL('./backend.js', import.meta.url));
/** How often generators learn each channel's acknowledged position. */
const ackedEveryMs = 100;

interface IntervalRecord {
  /** Seconds since publishing started. */
  t: number;
  published: number;
  publishedPerS: number;
  open: number;
  opened: number;
  closed: number;
  dropped: number;
  openFailed: number;
  delivered: number;
  duplicated: number;
  outOfOrder: number;
  /** Due items of the connections that ended in this interval, and how many never came. */
  expected: number;
  lost: number;
  latencyMs: { p50: number | null; p99: number | null; max: number | null };
  p99ByTransportMs: Record<Transport, number | null>;
  openByTransport: Record<Transport, number>;
  rssMiB: RssSample;
}

function byTransport<T>(make: (t: Transport) => T): Record<Transport, T> {
  return Object.fromEntries(transports.map((t) => [t, make(t)])) as Record<Transport, T>;
}

function sum(tallies: TallyByTransport): TransportTally {
  const all = new TransportTally();
  for (const t of transports) all.addTally(tallies[t]);
  return all;
}

function n(value: number): string {
  return Math.round(value).toLocaleString('en-US');
}

function ms(value: number | null): string {
  return value === null ? 'n/a' : `${value} ms`;
}

async function startBackend(workDir: string): Promise<number> {
  const logFile = path.join(workDir, 'backend.log');
  const pid = spawnLogged(process.execPath, [backendEntry, '0'], logFile);
  cleanups.push(() => stopTree(pid, 5_000));
  await waitForLog(logFile, (text) => text.includes('"backend ready"'), 15_000, pid);
  const line = fs
    .readFileSync(logFile, 'utf8')
    .split('\n')
    .find((l) => l.includes('"backend ready"'))!;
  return (JSON.parse(line) as { port: number }).port;
}

/** Lines kept from thumbtack's log: its warnings and errors, for a failed run's reader. */
const warningLinesMax = 10_000;

/** Copies the pino lines at warn level or above (40+) from `logFile` to `out`; their count. */
async function copyWarnings(logFile: string, out: string): Promise<number> {
  if (!fs.existsSync(logFile)) return 0;
  const lines = readline.createInterface({ input: fs.createReadStream(logFile) });
  const kept: string[] = [];
  let count = 0;
  for await (const line of lines) {
    if (!/"level":(4|5|6)\d/.test(line)) continue;
    count++;
    if (kept.length < warningLinesMax) kept.push(line);
  }
  if (count > 0) fs.writeFileSync(out, kept.join('\n') + '\n');
  return count;
}

/** Each transport's share of `total`, then each generator's share of that. */
function populations(total: number, generators: number): Record<Transport, number>[] {
  const shares = transports.map(
    (_, i) =>
      Math.floor((total * (i + 1)) / transports.length) -
      Math.floor((total * i) / transports.length),
  );
  return Array.from({ length: generators }, (_, g) =>
    byTransport((t) => {
      const share = shares[transports.indexOf(t)];
      return Math.floor((share * (g + 1)) / generators) - Math.floor((share * g) / generators);
    }),
  );
}

function failuresOf(
  all: TransportTally,
  totals: TallyByTransport,
  stream: PublishStream,
  planned: number,
  restarts: string[],
): string[] {
  const failures: string[] = [];
  const check = (count: number, what: string) => {
    if (count > 0) failures.push(`${n(count)} ${what}`);
  };
  check(all.lost, 'items lost');
  check(all.duplicated, 'items duplicated');
  check(all.outOfOrder, 'items out of order');
  check(all.misrouted, 'items of another channel');
  check(all.dropped, 'connections dropped by the server');
  check(all.openFailed, 'connection attempts failed');
  if (stream.sent < planned) failures.push(`published ${n(stream.sent)} of ${n(planned)} items`);
  for (const t of transports)
    if (totals[t].expected === 0) failures.push(`${t}: no item was due (nothing was checked)`);
  failures.push(...restarts);
  return failures;
}

async function main(argv: string[]): Promise<number> {
  const options: SoakOptions = readOptions(argv);
  const stamp = new Date().toISOString().replace(/[:.]/g, '-').slice(0, 19);
  const outDir = path.resolve(options.out ?? path.join(root, 'bench/results', `soak-${stamp}`));
  fs.mkdirSync(outDir, { recursive: true });
  const workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'thumbtack-soak-'));
  cleanups.push(async () => fs.rmSync(workDir, { recursive: true, force: true }));
  const durationMs = options.minutes * 60_000;
  const intervalMs = options.intervalS * 1000;
  const command = `npm run soak${argv.length > 0 ? ` -- ${argv.join(' ')}` : ''}`;

  const backendPort = await startBackend(workDir);
  const sut = await startThumbtack({ backendPort, workers: options.workers, workDir });
  cleanups.push(() => sut.stop());
  const runnerPid = sut.processes()[0];
  const firstPids = sampleRss(runnerPid).pids;
  const generators = new SoakGenerators(options.generators);
  cleanups.push(async () => generators.stop());
  const log = new PublishLog(options.channels);
  const publisher = new HttpPublisher(sut.publishUrl, 1);
  cleanups.push(() => publisher.close());
  const stream = new PublishStream(publisher, log, {
    total: options.publishes,
    durationMs,
    withheld: options.withhold,
  });
  process.stderr.write(
    `soak: ${n(options.connections)} connections over ${transports.join(', ')}; ` +
      `${n(options.publishes)} publishes on ${n(options.channels)} channels over ${options.minutes} min; ` +
      `lives ${options.lifeMinS}–${options.lifeMaxS} s; thumbtack ${sut.description}; ` +
      `${generators.size} generators; out ${outDir}\n`,
  );
  await stream.warm();

  const totals = byTransport(() => new TransportTally());
  const intervals: IntervalRecord[] = [];
  /** A few ended connections with each kind of fault, for whoever looks into it. */
  const examples: Record<'lost' | 'duplicated' | 'outOfOrder', Record<string, unknown>[]> = {
    lost: [],
    duplicated: [],
    outOfOrder: [],
  };
  const startedAt = Date.now();
  let publishedBefore = stream.sent;
  let sampledAt = startedAt;
  const baseline = sampleRss(runnerPid).rss;
  const restarts = new Set<string>();

  const record = (samples: GeneratorSample[]): void => {
    const now = Date.now();
    const tally = byTransport(() => new TransportTally());
    for (const s of samples) {
      for (const t of transports) {
        tally[t].addSample(s.transports[t]);
        totals[t].addSample(s.transports[t]);
      }
      for (const rec of s.records) {
        const r = reconcile(rec, log);
        tally[rec.transport].addRecord(r);
        totals[rec.transport].addRecord(r);
        const kinds = [
          ['lost', r.lost],
          ['duplicated', rec.duplicates],
          ['outOfOrder', rec.outOfOrder],
        ] as const;
        for (const [kind, count] of kinds)
          if (count > 0 && examples[kind].length < 20)
            examples[kind].push({ ...rec, gaps: rec.gaps.slice(0, 5), ...r });
      }
    }
    for (const t of transports) totals[t].open = 0; // a gauge: the run's totals keep none
    const all = sum(tally);
    const { rss, pids } = sampleRss(runnerPid);
    for (const [role, pid] of Object.entries(firstPids))
      if (pids[role] !== pid)
        restarts.add(`${role} restarted (PID ${pid} → ${pids[role] ?? 'gone'})`);
    const published = stream.sent - publishedBefore;
    publishedBefore = stream.sent;
    const entry: IntervalRecord = {
      t: Math.round((now - startedAt) / 100) / 10,
      published,
      publishedPerS: Math.round(published / ((now - sampledAt) / 1000)),
      open: all.open,
      opened: all.opened,
      closed: all.closed,
      dropped: all.dropped,
      openFailed: all.openFailed,
      delivered: all.received,
      duplicated: all.duplicated,
      outOfOrder: all.outOfOrder,
      expected: all.expected,
      lost: all.lost,
      latencyMs: {
        p50: round(all.latency.percentile(50)),
        p99: round(all.latency.percentile(99)),
        max: round(all.latency.max),
      },
      p99ByTransportMs: byTransport((t) => round(tally[t].latency.percentile(99))),
      openByTransport: byTransport((t) => tally[t].open),
      rssMiB: rss,
    };
    sampledAt = now;
    intervals.push(entry);
    const workers = Object.keys(rss)
      .filter((k) => k.startsWith('worker'))
      .map((k) => `w${k.slice(7)} ${rss[k]}`)
      .join(', ');
    process.stdout.write(
      `soak ${String(entry.t).padStart(6)} s: ${n(entry.open)} open (+${n(entry.opened)} −${n(entry.closed)}), ` +
        `${n(published)} published (${n(entry.publishedPerS)}/s), ${n(entry.delivered)} delivered, ` +
        `p99 ${ms(entry.latencyMs.p99)}, lost ${entry.lost}/${n(entry.expected)} due, dup ${entry.duplicated}, ` +
        `dropped ${entry.dropped}, failed opens ${entry.openFailed}, ` +
        `RSS ${rss.total} MiB (runner ${rss.runner}, handler ${rss.handler}, ${workers})\n`,
    );
  };

  let fatal: Error | undefined;
  let sampling = Promise.resolve();
  const sampleTimer = setInterval(() => {
    sampling = sampling
      .then(async () => record(await generators.all({ type: 'sample' }, 30_000)))
      .catch((err: Error) => {
        fatal ??= err;
      });
  }, intervalMs);
  const ackTimer = setInterval(
    () => generators.tell({ type: 'acked', seqs: log.acked }),
    ackedEveryMs,
  );
  cleanups.push(async () => {
    clearInterval(sampleTimer);
    clearInterval(ackTimer);
  });
  generators.tell({ type: 'acked', seqs: log.acked });
  const shares = populations(options.connections, generators.size);
  await Promise.all(
    shares.map((population, i) => {
      const config: GeneratorConfig = {
        host: '127.0.0.1',
        port: sut.clientPort,
        sources: Array.from({ length: options.sources }, (_, k) => `127.0.0.${k + 1}`),
        channels: options.channels,
        population,
        lifeMinMs: options.lifeMinS * 1000,
        lifeMaxMs: options.lifeMaxS * 1000,
        openConcurrency: 200,
        drainMs: options.drainS * 1000,
      };
      return generators.ask(i, { type: 'start', config }, 10_000);
    }),
  );
  const hardStop = startedAt + durationMs * 1.5 + 30_000;
  await stream.run(() => fatal !== undefined || Date.now() > hardStop);
  clearInterval(sampleTimer);
  await sampling;
  clearInterval(ackTimer);
  if (fatal) throw fatal;
  generators.tell({ type: 'acked', seqs: log.acked });
  record(await generators.all({ type: 'finish' }, options.drainS * 1000 + 30_000));

  const all = sum(totals);
  const failures = failuresOf(all, totals, stream, options.publishes, [...restarts]);
  const elapsedS = (Date.now() - startedAt) / 1000;
  const rssTotals = intervals.map((i) => i.rssMiB.total);
  const peak = Math.max(baseline.total, ...rssTotals);
  const lp = totals['long-poll'];
  const verdict = failures.length === 0 ? 'PASS' : 'FAIL';
  const summary =
    `soak ${verdict}: ${options.minutes} min, ${n(options.connections)} connections ` +
    `(${n(all.opened)} opened over the run), ${n(stream.sent)} published ` +
    `(${n(stream.sent / Math.max(1, durationMs / 1000))}/s), ${n(all.expected)} due, ${n(all.delivered)} delivered, ` +
    `${n(all.lost)} lost, ${n(all.duplicated)} duplicated, ${n(all.outOfOrder)} out of order, ` +
    `${n(all.dropped)} dropped, ${n(all.openFailed)} failed opens; long-poll ${n(lp.polls)} polls, ` +
    `${n(lp.resumed)} items bridged by resume, ${n(lp.gapAnswers)} gaps; ` +
    `p99 ${ms(round(all.latency.percentile(99)))} (max ${ms(round(all.latency.max))}); ` +
    `RSS ${baseline.total} MiB at start, ${rssTotals.at(-1)} at end, peak ${peak}` +
    failures.map((f) => `\n  - ${f}`).join('');

  const machine = {
    cpus: os.cpus().length,
    cpuModel: os.cpus()[0]?.model ?? 'unknown',
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    node: process.version,
  };
  const report = {
    startedAt: new Date(startedAt).toISOString(),
    command,
    machine,
    thumbtack: sut.description,
    options,
    verdict,
    failures,
    elapsedS,
    totals: {
      all: all.toJSON(),
      byTransport: byTransport((t) => totals[t].toJSON()),
    },
    publish: {
      sent: stream.sent,
      requests: stream.requests,
      retries: stream.retries,
      requestP99Ms: round(stream.requestLatency.percentile(99)),
    },
    rssBaselineMiB: baseline,
    intervals,
    examples,
  };
  const warnings = await copyWarnings(sut.logFile, path.join(outDir, 'thumbtack-warnings.log'));
  fs.writeFileSync(
    path.join(outDir, 'soak.json'),
    JSON.stringify({ ...report, thumbtackWarnings: warnings }, null, 2) + '\n',
  );
  fs.writeFileSync(
    path.join(outDir, 'soak.svg'),
    chart(report.startedAt, options, verdict, baseline, intervals, machine.cpus),
  );
  const warningFile =
    warnings > 0 ? `, thumbtack-warnings.log (${n(warnings)} warn/error lines)` : '';
  process.stdout.write(`${summary}\nresults: ${outDir}/soak.json, soak.svg${warningFile}\n`);
  return failures.length === 0 ? 0 : 1;
}

function chart(
  startedAt: string,
  options: SoakOptions,
  verdict: string,
  baseline: RssSample,
  intervals: IntervalRecord[],
  cpus: number,
): string {
  const roles = [
    ...new Set([...Object.keys(baseline), ...intervals.flatMap((i) => Object.keys(i.rssMiB))]),
  ];
  const rss: Panel = {
    title: 'RSS of thumbtack by process',
    unit: 'MiB',
    series: roles.map((role) => ({
      name: role,
      points: [
        [0, baseline[role] ?? null],
        ...intervals.map((i): [number, number | null] => [i.t, i.rssMiB[role] ?? null]),
      ],
    })),
  };
  const latency: Panel = {
    title: 'p99 publish → delivery latency per interval',
    unit: 'ms',
    series: [
      {
        name: 'all',
        points: intervals.map((i): [number, number | null] => [i.t, i.latencyMs.p99]),
      },
      ...transports.map((t) => ({
        name: t,
        points: intervals.map((i): [number, number | null] => [i.t, i.p99ByTransportMs[t]]),
      })),
    ],
  };
  const open: Panel = {
    title: 'connections open',
    unit: 'count',
    series: [
      { name: 'all', points: intervals.map((i): [number, number | null] => [i.t, i.open]) },
      ...transports.map((t) => ({
        name: t,
        points: intervals.map((i): [number, number | null] => [i.t, i.openByTransport[t]]),
      })),
    ],
  };
  return timeSeriesSvg(
    `thumbtack soak — ${n(options.connections)} connections, ${n(options.publishes)} publishes, ${options.minutes} min: ${verdict}`,
    `${startedAt}, ${options.workers} workers, ${cpus} CPUs; x: seconds since publishing started`,
    [rss, latency, open],
  );
}

runScript('soak', () => main(process.argv.slice(2)));
