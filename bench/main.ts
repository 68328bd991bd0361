import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Fleet } from './loadgen/fleet.js';
import {
  generatorCount,
  parseOptions,
  sourceAddresses,
  usage,
  workersFor,
  type BenchOptions,
  type WorkloadName,
} from './options.js';
import { commandLine, openFiles, processTree, stopTree } from './process-tree.js';
import { chartSvg } from './report/chart-svg.js';
import { formatProfile, summariseProfile, type ProfileSummary } from './report/profile-summary.js';
import { markdownTable, tableRows } from './report/table.js';
import { packagedLimiter, pushpinVersion, startPushpin } from './sut/pushpin.js';
import { startRef } from './sut/ref.js';
import { spawnLogged, tail, waitForLog, type Sut, type SutName } from './sut/sut.js';
import { startThumbtack } from './sut/thumbtack.js';
import { channelsWorkload } from './workloads/channels.js';
import { directWorkload } from './workloads/direct.js';
import { fanoutWorkload } from './workloads/fanout.js';
import { holdWorkload } from './workloads/hold.js';
import { nodesWorkload } from './workloads/nodes.js';
import { addBackendShare, proxyWorkload } from './workloads/proxy.js';
import type { Workload, WorkloadResult } from './workloads/workload.js';
import { wsWorkload } from './workloads/ws.js';
import { cleanups, runScript } from './script-run.js';

const backendEntry = fileURLToPath(new URL('./backend.js', import.meta.url));

/** Has `stop` run on exit or interrupt until the returned function forgets it. */
function track(stop: () => Promise<void>): () => void {
  cleanups.push(stop);
  return () => {
    const i = cleanups.indexOf(stop);
    if (i >= 0) cleanups.splice(i, 1);
  };
}

function progress(line: string): void {
  process.stderr.write(`  · ${line}\n`);
}

function buildWorkload(name: WorkloadName, options: BenchOptions): Workload {
  switch (name) {
    case 'proxy':
      return proxyWorkload(options);
    case 'hold':
      return holdWorkload(options, 'sse');
    case 'hold-ws':
      return holdWorkload(options, 'ws');
    case 'fanout':
      return fanoutWorkload(options, 'http');
    case 'zmq':
      return fanoutWorkload(options, 'zmq');
    case 'channels':
      return channelsWorkload(options);
    case 'ws':
      return wsWorkload(options);
    case 'nodes':
      return nodesWorkload(options);
    case 'direct':
      return directWorkload(options);
  }
}

async function startBackend(workDir: string): Promise<{ port: number; pid: number }> {
  const logFile = path.join(workDir, 'backend.log');
  const pid = spawnLogged(process.execPath, [backendEntry, '0'], logFile);
  cleanups.push(() => stopTree(pid, 5_000));
  await waitForLog(logFile, (text) => text.includes('"backend ready"'), 15_000, pid);
  const line = fs
    .readFileSync(logFile, 'utf8')
    .split('\n')
    .find((l) => l.includes('"backend ready"'))!;
  return { port: (JSON.parse(line) as { port: number }).port, pid };
}

interface RunContext {
  options: BenchOptions;
  workDir: string;
  backendPort: number;
  profileDir: string | undefined;
}

async function startSut(name: SutName, workload: Workload, run: RunContext): Promise<Sut> {
  const workDir = fs.mkdtempSync(path.join(run.workDir, `${name}-${workload.name}-`));
  const common = { backendPort: run.backendPort, workDir };
  if (name === 'thumbtack') {
    const profileDir = run.profileDir ? path.join(run.profileDir, workload.name) : undefined;
    const workers = workersFor(run.options, workload.connections);
    return startThumbtack({ ...common, workers, profileDir });
  }
  if (name === 'pushpin') return startPushpin({ ...common, workers: 1 });
  const refWorkers = run.options.refWorkers || workersFor(run.options, workload.connections);
  return startRef({
    ...common,
    workers: Math.max(refWorkers, Math.ceil(workload.connections / 18_000)),
    forwarder: run.options.refForwarder,
    wsEcho: run.options.refWsEcho,
  });
}

function backendSut(port: number, pid: number): Sut {
  return {
    name: 'backend',
    clientPort: port,
    publishUrl: '',
    zmqSub: '',
    processes: () => processTree(pid),
    description: 'the bench backend, no proxy',
    logFile: '',
    logFiles: [],
    stop: async () => undefined,
  };
}

/** Which thumbtack process each profile belongs to, from the PID in its file name. */
function summariseProfiles(
  dir: string,
  roles: Map<number, string>,
  span: [number, number] | undefined,
): { role: string; summary: ProfileSummary }[] {
  if (!fs.existsSync(dir)) return [];
  const out: { role: string; summary: ProfileSummary }[] = [];
  for (const file of fs.readdirSync(dir).filter((f) => f.endsWith('.cpuprofile'))) {
    const pid = Number(file.split('.')[3]);
    const command = roles.get(pid) ?? '';
    const role = command.includes('proxy/main.js')
      ? `proxy worker ${pid}`
      : command.includes('handler/main.js')
        ? `handler ${pid}`
        : `runner ${pid}`;
    out.push({ role, summary: summariseProfile(path.join(dir, file), 20, span) });
  }
  return out.sort((a, b) => a.role.localeCompare(b.role));
}

async function runOne(
  workload: Workload,
  sutName: SutName | 'backend',
  fleet: Fleet,
  run: RunContext,
  backend: { port: number; pid: number },
  profiles: Record<string, unknown>,
): Promise<WorkloadResult> {
  const missing = sutName === 'backend' ? undefined : workload.unavailable?.(sutName);
  if (missing !== undefined) {
    return {
      workload: workload.name,
      sut: sutName,
      status: 'not available',
      note: missing,
      metrics: {},
      summary: `not available: ${missing}`,
    };
  }
  let sut: Sut;
  try {
    sut =
      sutName === 'backend'
        ? backendSut(backend.port, backend.pid)
        : await startSut(sutName, workload, run);
  } catch (err) {
    const note = `could not start: ${(err as Error).message}`;
    return {
      workload: workload.name,
      sut: sutName,
      status: 'failed',
      note,
      metrics: {},
      summary: note,
    };
  }
  const forget = track(() => sut.stop());
  // Taken now: a workload may stop its system before it returns (nodes).
  const roles = new Map(sut.processes().map((pid) => [pid, commandLine(pid)]));
  let result: WorkloadResult;
  try {
    result = await workload.run({
      sut,
      fleet,
      options: run.options,
      log: (line) => progress(`[${sutName}] ${line}`),
      backendPort: run.backendPort,
      workDir: run.workDir,
      track,
    });
  } catch (err) {
    const note = `failed: ${(err as Error).message}`;
    result = {
      workload: workload.name,
      sut: sutName,
      status: 'failed',
      note,
      metrics: {},
      summary: note,
    };
    if (sut.logFile) process.stderr.write(`${tail(fs.readFileSync(sut.logFile, 'utf8'), 10)}\n`);
  }
  await fleet.closeAll().catch(() => undefined);
  await fleet.reset().catch(() => undefined);
  await sut.stop();
  forget();
  if (sutName === 'thumbtack' && run.profileDir) {
    const summaries = summariseProfiles(
      path.join(run.profileDir, workload.name),
      roles,
      result.window,
    );
    profiles[workload.name] = summaries;
    for (const { role, summary } of summaries) {
      if (!role.startsWith('runner'))
        process.stderr.write(`${formatProfile(summary, `profile ${workload.name} ${role}`)}\n`);
    }
  }
  return result;
}

function machine(): Record<string, unknown> {
  const cpus = os.cpus();
  return {
    cpus: cpus.length,
    cpuModel: cpus[0]?.model ?? 'unknown',
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    kernel: `${os.type()} ${os.release()}`,
    node: process.version,
    openFilesPerProcess: openFiles(process.pid).limit,
  };
}

async function main(argv: string[]): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(usage);
    return 0;
  }
  const options = parseOptions(argv);
  const version = pushpinVersion();
  if (options.sut.includes('pushpin') && !version) {
    process.stderr.write(
      'Pushpin is not installed (apt-get install -y pushpin): running without it\n',
    );
    options.sut = options.sut.filter((s) => s !== 'pushpin');
  }
  const limiter = packagedLimiter();
  const stamp = new Date().toISOString().replace(/[:.]/g, '-').slice(0, 19);
  const outDir = path.resolve(options.out);
  fs.mkdirSync(outDir, { recursive: true });
  const workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'thumbtack-bench-'));
  const run: RunContext = {
    options,
    workDir,
    backendPort: 0,
    profileDir: options.profile ? path.join(outDir, `profiles-${stamp}`) : undefined,
  };
  const sources = sourceAddresses(options);
  const fleet = new Fleet(generatorCount(options), sources);
  cleanups.push(() => fleet.stop());
  const backend = await startBackend(workDir);
  run.backendPort = backend.port;
  process.stderr.write(
    `bench: ${options.sut.join(', ')} × ${options.workloads.join(', ')}; ${fleet.size} generators, ` +
      `${sources.length} source addresses; work dir ${workDir}\n`,
  );
  if (limiter) {
    process.stderr.write(
      `Pushpin's packaged defaults: message_rate=${limiter.messageRate}, message_hwm=${limiter.messageHwm} ` +
        '(this run uses 0 and 0: the limiter off)\n',
    );
  }

  const workloads = options.workloads.map((name) => buildWorkload(name, options));
  const results: WorkloadResult[] = [];
  const profiles: Record<string, unknown> = {};
  for (const workload of workloads) {
    const suts: (SutName | 'backend')[] =
      workload.name === 'proxy' ? ['backend', ...options.sut] : options.sut;
    const mine: WorkloadResult[] = [];
    for (const sutName of suts) {
      const result = await runOne(workload, sutName, fleet, run, backend, profiles);
      process.stdout.write(`[${sutName}] ${workload.name}: ${result.summary}\n`);
      process.stdout.write(`${JSON.stringify(result)}\n`);
      mine.push(result);
    }
    if (workload.name === 'proxy') {
      const base = mine.find((r) => r.sut === 'backend');
      if (base) addBackendShare(options, base.metrics, mine);
    }
    results.push(...mine);
  }

  const columns = [...options.sut, ...(options.workloads.includes('proxy') ? ['backend'] : [])];
  const rows = tableRows(workloads, results);
  const table = markdownTable(rows, columns);
  const command = `npm run bench${argv.length > 0 ? ` -- ${argv.join(' ')}` : ''}`;
  const machineInfo = machine();
  process.stdout.write(`\n${table}\n\n`);
  const report = {
    startedAt: stamp,
    command,
    machine: machineInfo,
    pushpin: version
      ? { version, packagedDefaults: limiter, used: { messageRate: 0, messageHwm: 0 } }
      : undefined,
    options,
    results,
    table,
    profiles: options.profile ? profiles : undefined,
  };
  const base = path.join(outDir, `bench-${stamp}`);
  fs.writeFileSync(`${base}.json`, JSON.stringify(report, null, 2) + '\n');
  const pushpinLine = version
    ? `Pushpin: ${version}, run with message_rate=0 and message_hwm=0 (packaged defaults: ` +
      `message_rate=${limiter?.messageRate}, message_hwm=${limiter?.messageHwm})\n\n`
    : '';
  fs.writeFileSync(
    `${base}.md`,
    `Command: \`${command}\`\n\nMachine: ${JSON.stringify(machineInfo)}\n\n${pushpinLine}${table}\n`,
  );
  const title = `thumbtack bench ${stamp} — ${machineInfo.cpus} × ${machineInfo.cpuModel}, ${machineInfo.node}`;
  fs.writeFileSync(`${base}.svg`, chartSvg(rows, columns, title));
  for (const ext of ['json', 'md', 'svg'])
    fs.copyFileSync(`${base}.${ext}`, path.join(outDir, `latest.${ext}`));
  process.stdout.write(`results: ${base}.json, .md, .svg (also latest.*)\n`);
  fs.rmSync(workDir, { recursive: true, force: true });
  return results.some((r) => r.status === 'failed') ? 1 : 0;
}

runScript('bench', () => main(process.argv.slice(2)));
