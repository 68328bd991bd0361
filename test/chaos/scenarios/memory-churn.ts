import { Histogram } from '../../../bench/histogram.js';
import { DeliveryStats } from '../../../bench/loadgen/delivery-stats.js';
import { SseConnection, type SseTarget } from '../../../bench/loadgen/sse-client.js';
import { WsConnection, type EchoStats } from '../../../bench/loadgen/ws-client.js';
import { startGripWsBackend } from '../../support/grip-ws-backend.js';
import { startWohBackend } from '../../support/ws.js';
import {
  openClientConnections,
  proxyWorkerPids,
  readMemory,
  startThumbtack,
  waitUntil,
  type Thumbtack,
} from '../../support/thumbtack.js';
import {
  heapSnapshotNodeOptions,
  takeHeapSnapshot,
  topGrowth,
  totalObjects,
} from '../heap-snapshot.js';
import { mib, RssSampler } from '../process-figures.js';
import type { ChaosRecord, Scenario, ScenarioOptions } from '../record.js';

/*
 * Memory churn: clients connect and leave by the ten thousand (SSE holds, and WebSockets
 * both passthrough and WebSocket-over-HTTP, each on a channel), then the worker idles.
 * Whatever a connection leaves behind shows as live heap objects that grow with the
 * cycles (a heap snapshot before and after, through node's own --heapsnapshot-signal: no
 * hook in the product), and as resident memory that does not come back.
 */

const channel = 'chaos-churn';
/** Cycles in flight at once. */
const lanes = 32;
/** An open that takes longer is counted as failed. */
const openTimeoutMs = 10_000;
/** RSS after the idle may differ from where it started by this share. */
const rssTolerance = 0.1;
/**
 * Live objects the heap may gain: snapshot to snapshot the count moves by tens to a few
 * hundred with no leak at all (plain objects, arrays and contexts, more beside other test
 * files), while a leak keeps at least one object (in practice many) per connection. The
 * full form's 40,000 cycles dwarf the noise.
 */
const objectsNoise = 500;
const objectsPerCycleMax = 0.05;

interface Shape {
  /** Cycles of each kind (SSE, WebSocket) measured. */
  cycles: number;
  /** Cycles of each kind before the first snapshot: caches and compiled code settle. */
  warmup: number;
  idleMs: number;
}

/** The full form's idle, in minutes: THUMBTACK_CHAOS_IDLE_MINUTES (documented in main.ts). */
function idleMinutes(): number {
  const text = process.env['THUMBTACK_CHAOS_IDLE_MINUTES'];
  if (text === undefined || text === '') return 10;
  const minutes = Number(text);
  if (!Number.isFinite(minutes) || minutes < 0) {
    throw new Error(
      `THUMBTACK_CHAOS_IDLE_MINUTES=${text} is not a number of minutes (e.g. 10, 0.5)`,
    );
  }
  return minutes;
}

export const memoryChurn: Scenario = {
  name: 'memory-churn',
  summary:
    '20,000 connect/disconnect cycles each of SSE holds and WebSockets, then 10 minutes idle ' +
    '[RSS back within 10 %, no heap objects gained per cycle]',
  run,
};

async function run(options: ScenarioOptions): Promise<ChaosRecord> {
  const shape: Shape = options.short
    ? { cycles: 200, warmup: 50, idleMs: 1_000 }
    : { cycles: 20_000, warmup: 1_000, idleMs: idleMinutes() * 60_000 };
  const backend = await startGripWsBackend(channel);
  const woh = await startWohBackend((ws) => {
    if (!ws.isOpening()) return;
    ws.accept();
    ws.subscribe(channel);
  });
  const tt = await startThumbtack({
    routes:
      `*,path_beg=/woh,log_level=1 ${woh.target},over_http\n` + `*,log_level=1 ${backend.target}\n`,
    workers: 1,
    env: { NODE_OPTIONS: heapSnapshotNodeOptions(options.dir) },
  });
  try {
    const [workerPid] = proxyWorkerPids(tt);
    const rssFresh = readMemory(workerPid!);
    const warm = await churnBoth(tt, shape.warmup);
    await settle(tt, workerPid!);
    // Writing a snapshot leaves the process some tens of MiB of allocator memory it keeps:
    // memory is compared from after the first snapshot on.
    const before = await takeHeapSnapshot(workerPid!, options.dir);
    const rssStart = readMemory(workerPid!);

    const sampler = new RssSampler(workerPid!, 200);
    const churnedAt = Date.now();
    const churned = await churnBoth(tt, shape.cycles);
    const churnMs = Date.now() - churnedAt;
    const rssPeak = sampler.stop();
    const leftOpen = await settle(tt, workerPid!);
    await new Promise((r) => setTimeout(r, shape.idleMs));
    const rssEnd = readMemory(workerPid!);
    const after = await takeHeapSnapshot(workerPid!, options.dir);

    const cycles = 2 * shape.cycles;
    const grown = totalObjects(after) - totalObjects(before);
    const perCycle = grown / cycles;
    const rssChange = (rssEnd - rssStart) / rssStart;
    const restarted = tt.logs.some((l) => l.msg === 'child exited unexpectedly; restarting');
    const failures: string[] = [];
    const failed = warm.failed + churned.failed;
    if (failed > 0) {
      const errors = { ...warm.errors, ...churned.errors };
      failures.push(
        `${failed} cycles did not open: ${JSON.stringify(errors)}; worker said: ${warnings(tt)}`,
      );
    }
    if (leftOpen > 0) failures.push(`${leftOpen} client connections still open on the worker`);
    if (Math.abs(rssChange) > rssTolerance) {
      failures.push(
        `worker RSS ${mib(rssEnd)} MiB after the idle, ${pct(rssChange)} from ` +
          `${mib(rssStart)} MiB at the start (allowed ${pct(rssTolerance)})`,
      );
    }
    if (grown > objectsNoise + objectsPerCycleMax * cycles) {
      failures.push(
        `the heap gained ${grown} live objects over ${cycles} cycles ` +
          `(${perCycle.toFixed(3)} per cycle): ${topGrowth(before, after).join(', ')}`,
      );
    }
    if (restarted) failures.push('the worker died and was restarted');
    return {
      scenario: memoryChurn.name,
      load:
        `${shape.cycles} SSE + ${shape.cycles} WebSocket (passthrough and over HTTP) ` +
        `connect/disconnect cycles, ${lanes} at a time, then ${shape.idleMs / 1000} s idle`,
      faultsInjected: cycles,
      requestsSent: cycles + 2 * shape.warmup,
      requestsFailed: failed,
      connectionsHeld: 0,
      connectionsLost: 0,
      itemsPublished: 0,
      itemsLost: 0,
      itemsDuplicated: 0,
      recoveryMs: null,
      extra: {
        rssFreshMiB: mib(rssFresh),
        rssStartMiB: mib(rssStart),
        rssPeakMiB: mib(rssPeak),
        rssAfterIdleMiB: mib(rssEnd),
        rssChangePct: Math.round(rssChange * 1000) / 10,
        heapObjectsBefore: totalObjects(before),
        heapObjectsAfter: totalObjects(after),
        heapObjectsPerCycle: Math.round(perCycle * 1000) / 1000,
        cyclesPerSecond: Math.round(cycles / (churnMs / 1000)),
        idleSeconds: shape.idleMs / 1000,
      },
      failures,
    };
  } finally {
    await tt.stop();
    await woh.close();
    await backend.close();
  }
}

/** The worker's warn and error lines, by message, for a failure's explanation. */
function warnings(tt: Thumbtack): string {
  const counts: Record<string, number> = {};
  for (const line of tt.logs) {
    if (line.level !== 'warn' && line.level !== 'error') continue;
    counts[line.msg] = (counts[line.msg] ?? 0) + 1;
  }
  return JSON.stringify(counts);
}

function pct(share: number): string {
  return `${Math.round(share * 1000) / 10} %`;
}

/** Waits (bounded) until the worker holds no client connection; returns how many it still does. */
async function settle(tt: Thumbtack, workerPid: number): Promise<number> {
  await waitUntil(() => openClientConnections(tt, workerPid) === 0, 30_000).catch(() => undefined);
  return openClientConnections(tt, workerPid);
}

interface ChurnOutcome {
  failed: number;
  errors: Record<string, number>;
}

/** `cycles` SSE cycles and as many WebSocket cycles, interleaved, `lanes` at a time. */
async function churnBoth(tt: Thumbtack, cycles: number): Promise<ChurnOutcome> {
  const outcome: ChurnOutcome = { failed: 0, errors: {} };
  const stats = new DeliveryStats();
  const echo: EchoStats = { sent: 0, received: 0, rtt: new Histogram() };
  let next = 0;
  const total = 2 * cycles;
  const lane = async (): Promise<void> => {
    while (next < total) {
      const i = next++;
      const error = await cycle(tt, i, stats, echo);
      if (error !== undefined) {
        outcome.failed++;
        outcome.errors[error] = (outcome.errors[error] ?? 0) + 1;
      }
    }
  };
  await Promise.all(Array.from({ length: lanes }, lane));
  return outcome;
}

/**
 * One client connects, waits for its stream or WebSocket to open, and leaves by resetting
 * the connection. Even cycles are SSE; odd ones alternate passthrough and over-HTTP
 * WebSockets. Resolves with the reason an open failed, if it did.
 */
function cycle(
  tt: Thumbtack,
  i: number,
  stats: DeliveryStats,
  echo: EchoStats,
): Promise<string | undefined> {
  const path = i % 2 === 0 ? '/sse' : i % 4 === 1 ? '/ws' : '/woh';
  // No local address: binding one makes the kernel search its ports at every connect.
  const target: SseTarget = { host: '127.0.0.1', port: tt.port, path, localAddress: '', index: i };
  return new Promise((resolve) => {
    let isDone = false;
    const onOpen = (conn: { close(): void }, error?: string): void => {
      if (isDone) return;
      isDone = true;
      clearTimeout(timer);
      conn.close();
      resolve(error);
    };
    const conn =
      path === '/sse'
        ? new SseConnection(target, stats, onOpen)
        : new WsConnection(target, stats, echo, onOpen);
    const timer = setTimeout(() => onOpen(conn, 'timeout'), openTimeoutMs);
  });
}
