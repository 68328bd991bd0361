import { DeliveryStats } from '../../../bench/loadgen/delivery-stats.js';
import { SseConnection } from '../../../bench/loadgen/sse-client.js';
import { streamItem } from '../../support/grip.js';
import { startGripWsBackend } from '../../support/grip-ws-backend.js';
import { publishItems } from '../../support/held-client.js';
import {
  proxyWorkerPids,
  startThumbtack,
  waitUntil,
  type Thumbtack,
} from '../../support/thumbtack.js';
import { cpuSeconds } from '../process-figures.js';
import type { ChaosRecord, Scenario, ScenarioOptions } from '../record.js';

/*
 * File-descriptor exhaustion: SSE clients keep arriving past a worker's connection cap. In
 * the full form the cap is the worker's default, from this machine's open-files limit
 * (20,000 less a 5 % reserve); the short form sets a low --max-connections. Connections
 * past the cap must be refused (not left hanging), the clients held at the cap must still
 * be served, the worker must idle while it sits there (uWS's accept loop spins a core on
 * EMFILE), and once clients leave it must accept and serve again.
 */

const channel = 'chaos-fd';
/** Worker CPU at the cap, idle, as a share of one core: the cap's descriptor counts only. */
const idleCpuMax = 0.1;

interface Shape {
  /** --max-connections; undefined: the worker's default from its open-files limit. */
  cap: number | undefined;
  /** Connection attempts beyond the cap. */
  extra: number;
  concurrency: number;
  idleMs: number;
  /** Clients that must connect and get a publish after the release. */
  after: number;
  /** A connection neither answered nor refused within this is hung. */
  openTimeoutMs: number;
}

const full: Shape = {
  cap: undefined,
  extra: 500,
  concurrency: 200,
  idleMs: 5_000,
  after: 100,
  openTimeoutMs: 30_000,
};
const short: Shape = {
  cap: 150,
  extra: 100,
  concurrency: 20,
  idleMs: 2_000,
  after: 10,
  openTimeoutMs: 10_000,
};

export const fdExhaustion: Scenario = {
  name: 'fd-exhaustion',
  summary:
    'SSE clients past a worker cap set by the 20,000 open-files limit ' +
    '[past the cap refused, 0 hung, held clients served, no spin at the cap, serves again after]',
  run,
};

async function run(options: ScenarioOptions): Promise<ChaosRecord> {
  const shape = options.short ? short : full;
  const backend = await startGripWsBackend(channel);
  const tt = await startThumbtack({
    routes: `* ${backend.target}\n`,
    workers: 1,
    args: shape.cap === undefined ? [] : ['--max-connections', String(shape.cap)],
  });
  const held: SseConnection[] = [];
  try {
    const [workerPid] = proxyWorkerPids(tt);
    const ready = tt.logs.find((l) => l.msg === 'proxy ready');
    const cap = ready?.['maxConnections'];
    if (typeof cap !== 'number') throw new Error('the worker reported no connection cap');
    const stats = new DeliveryStats();

    const flood = await openMany(tt, stats, cap + shape.extra, shape, 0, held);
    const capLines = tt.logs.filter((l) => l.msg.startsWith('connection cap reached')).length;

    // Held clients are still served at the cap: one publish reaches each.
    await publishItems(tt.controlUrl, [streamItem(channel, 'data: p0\n\n')]);
    await waitUntil(() => stats.probed >= flood.opened, 20_000).catch(() => undefined);
    const servedAtCap = stats.probed;

    // A second for the flood's aftermath (garbage, log lines), then the idle measurement.
    await new Promise((r) => setTimeout(r, 1_000));
    const cpuBefore = cpuSeconds(workerPid!);
    await new Promise((r) => setTimeout(r, shape.idleMs));
    const idleCpu = (cpuSeconds(workerPid!) - cpuBefore) / (shape.idleMs / 1000);
    const lostAtCap = stats.dropped;

    // Everyone leaves; new clients must get in and get a publish.
    const releasedAt = Date.now();
    for (const conn of held.splice(0)) conn.close();
    const recoveryMs = await firstAcceptedAfter(tt, releasedAt, shape, 30_000);
    const resumed = await tt
      .waitForLog((l) => l.msg === 'accepting connections again', 10_000)
      .then(() => true)
      .catch(() => false);
    const afterStats = new DeliveryStats();
    const after = await openMany(tt, afterStats, shape.after, shape, cap, held);
    await publishItems(tt.controlUrl, [streamItem(channel, 'data: p1\n\n')]);
    await waitUntil(() => afterStats.probed >= shape.after, 10_000).catch(() => undefined);

    const restarted = tt.logs.some((l) => l.msg === 'child exited unexpectedly; restarting');
    const failures: string[] = [];
    // Connections the worker accepted before it paused are served: at most one per attempt
    // in flight past the cap.
    if (flood.opened > cap + shape.concurrency) {
      failures.push(
        `${flood.opened} clients held, past the cap ${cap} + ${shape.concurrency} in flight`,
      );
    }
    // The cap counts every descriptor, backend connections (one per request in flight) too.
    if (flood.opened < cap - 2 * shape.concurrency) {
      failures.push(`only ${flood.opened} clients held, cap ${cap}`);
    }
    if (flood.refused < shape.extra - shape.concurrency) {
      failures.push(`${flood.refused} connections refused of ${shape.extra} attempts past the cap`);
    }
    if (flood.hung > 0) failures.push(`${flood.hung} connections neither served nor refused`);
    if (capLines !== 1) failures.push(`the cap was logged ${capLines} times, expected once`);
    if (servedAtCap < flood.opened) {
      failures.push(`${flood.opened - servedAtCap} clients held at the cap missed a publish`);
    }
    if (lostAtCap > 0) failures.push(`${lostAtCap} held clients were disconnected at the cap`);
    if (idleCpu > idleCpuMax) {
      failures.push(
        `worker used ${pct(idleCpu)} of a core idle at the cap (spin; max ${pct(idleCpuMax)})`,
      );
    }
    if (!resumed) failures.push('the worker never logged accepting connections again');
    if (recoveryMs === null) failures.push('no connection accepted after the clients left');
    if (after.opened !== shape.after || afterStats.probed !== shape.after) {
      failures.push(
        `after the release ${after.opened} of ${shape.after} clients connected and ` +
          `${afterStats.probed} got a publish`,
      );
    }
    if (restarted) failures.push('the worker died and was restarted');
    return {
      scenario: fdExhaustion.name,
      load: `${cap + shape.extra} SSE clients at ${shape.concurrency} at a time against a cap of ${cap}`,
      faultsInjected: 1,
      requestsSent: cap + shape.extra + shape.after,
      requestsFailed: flood.hung,
      connectionsHeld: flood.opened,
      connectionsLost: lostAtCap,
      itemsPublished: flood.opened + shape.after,
      itemsLost: flood.opened - servedAtCap + shape.after - afterStats.probed,
      itemsDuplicated: 0,
      recoveryMs,
      extra: {
        cap,
        capFrom: shape.cap === undefined ? 'open-files limit' : '--max-connections',
        held: flood.opened,
        heldPastCap: Math.max(0, flood.opened - cap),
        refused: flood.refused,
        refusedAs: JSON.stringify(flood.errors),
        hung: flood.hung,
        idleCpuShare: Math.round(idleCpu * 1000) / 1000,
        idleSeconds: shape.idleMs / 1000,
        floodMs: flood.ms,
      },
      failures,
    };
  } finally {
    for (const conn of held) conn.close();
    await tt.stop();
    await backend.close();
  }
}

function pct(share: number): string {
  return `${Math.round(share * 1000) / 10} %`;
}

interface OpenOutcome {
  opened: number;
  /** Refused or closed before an answer: the client knows at once. */
  refused: number;
  /** Neither within the shape's openTimeoutMs. */
  hung: number;
  errors: Record<string, number>;
  ms: number;
}

/** Opens `count` SSE clients, `concurrency` attempts at a time; open ones go into `into`. */
function openMany(
  tt: Thumbtack,
  stats: DeliveryStats,
  count: number,
  { concurrency, openTimeoutMs }: Pick<Shape, 'concurrency' | 'openTimeoutMs'>,
  firstIndex: number,
  into: SseConnection[],
): Promise<OpenOutcome> {
  const startedAt = Date.now();
  const outcome: OpenOutcome = { opened: 0, refused: 0, hung: 0, errors: {}, ms: 0 };
  let launched = 0;
  let settled = 0;
  return new Promise((resolve) => {
    const launch = (): void => {
      if (launched >= count) return;
      const index = firstIndex + launched++;
      let isSettled = false;
      const settle = (conn: SseConnection, error?: string): void => {
        if (isSettled) return;
        isSettled = true;
        clearTimeout(timer);
        if (error === undefined) {
          outcome.opened++;
          into.push(conn);
        } else {
          if (error.startsWith('timeout')) outcome.hung++;
          else outcome.refused++;
          outcome.errors[error] = (outcome.errors[error] ?? 0) + 1;
        }
        if (++settled === count) {
          outcome.ms = Date.now() - startedAt;
          resolve(outcome);
        } else launch();
      };
      // No local address: binding one makes the kernel search its ports at every connect.
      const target = { host: '127.0.0.1', port: tt.port, path: '/sse', localAddress: '', index };
      const conn = new SseConnection(target, stats, settle);
      const timer = setTimeout(() => {
        // Whether the kernel completed the handshake tells a queue from a lost SYN.
        settle(conn, conn.socket.connecting ? 'timeout connecting' : 'timeout answering');
        conn.close();
      }, openTimeoutMs);
    };
    if (count === 0) resolve(outcome);
    for (let i = 0; i < concurrency; i++) launch();
  });
}

/**
 * Tries a connection every 20 ms until one is answered: the ms from `since` to that answer,
 * or null within `timeoutMs`.
 */
async function firstAcceptedAfter(
  tt: Thumbtack,
  since: number,
  shape: Shape,
  timeoutMs: number,
): Promise<number | null> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const attempt: SseConnection[] = [];
    const outcome = await openMany(
      tt,
      new DeliveryStats(),
      1,
      { ...shape, concurrency: 1 },
      -1,
      attempt,
    );
    for (const conn of attempt) conn.close();
    if (outcome.opened === 1) return Date.now() - since;
    await new Promise((r) => setTimeout(r, 20));
  }
  return null;
}
