import fs from 'node:fs';
import path from 'node:path';
import type { OpenResult } from '../loadgen/messages.js';
import type { BenchOptions } from '../options.js';
import { HttpPublisher } from '../publisher.js';
import { redisServerVersion, startRedis } from '../sut/redis.js';
import { tail, type Sut } from '../sut/sut.js';
import { startThumbtack } from '../sut/thumbtack.js';
import { connectNote, fanoutMetrics, measureFanout, type FanoutFigures } from './fanout.js';
import {
  compareNodes,
  nodesSummary,
  nodesTargets,
  targetsVerdict,
  type SetupFigures,
} from './nodes-targets.js';
import {
  describeCounts,
  openOptions,
  round,
  type MetricSpec,
  type MetricValue,
  type Workload,
  type WorkloadContext,
  type WorkloadResult,
} from './workload.js';

const channel = 'nodes';
/** The fan-out figures the table shows for each set-up; the rest stay in the JSON detail. */
const shownKeys = ['deliveries_s', 'p50_ms', 'p99_ms', 'lost'];

function setupMetrics(prefix: string, label: string): MetricSpec[] {
  return fanoutMetrics(`nodes, ${label}`)
    .filter((m) => shownKeys.includes(m.key))
    .map((m) => ({ ...m, key: `${prefix}_${m.key}` }));
}

const metrics: MetricSpec[] = [
  ...setupMetrics('single', 'one node'),
  ...setupMetrics('two', 'two nodes + Redis'),
  {
    key: 'deliveries_ratio',
    label: `nodes: deliveries/s, two / one, target ≥ ${nodesTargets.minDeliveriesRatio}`,
    unit: '×',
    better: 'higher',
  },
  {
    key: 'p99_ratio',
    label: `nodes: latency p99, two / one, target ≤ ${nodesTargets.maxP99Ratio}`,
    unit: '×',
    better: 'lower',
  },
  { key: 'targets', label: 'nodes: targets', unit: '', better: 'info' },
];

interface SetupRun {
  figures: FanoutFigures;
  /** Subscribers open on each node, in the order of the nodes. */
  opened: number[];
  open: OpenResult;
}

function setupFigures(figures: FanoutFigures): SetupFigures {
  const n = (key: string) => {
    const value = figures.metrics[key];
    return typeof value === 'number' ? value : null;
  };
  return {
    deliveriesS: n('deliveries_s'),
    p50Ms: n('p50_ms'),
    p99Ms: n('p99_ms'),
    lost: n('lost') ?? 0,
    dropped: n('dropped') ?? 0,
  };
}

/**
 * `--node-subscribers` SSE subscribers split evenly over `nodes`, publishes to the first
 * node only: the fan-out measurement of `fanout`, whichever node a subscriber is on.
 */
async function measureSetup(ctx: WorkloadContext, nodes: Sut[], label: string): Promise<SetupRun> {
  const { fleet, options, log } = ctx;
  const total = options.nodeSubscribers;
  const opens: OpenResult[] = [];
  for (const [i, node] of nodes.entries()) {
    const share = Math.floor(total / nodes.length) + (i < total % nodes.length ? 1 : 0);
    log(`nodes, ${label}: opening ${share} SSE subscribers on port ${node.clientPort}`);
    opens.push(
      await fleet.openSse(
        { host: '127.0.0.1', port: node.clientPort },
        `/stream/${channel}`,
        share,
        openOptions(options),
      ),
    );
  }
  const open: OpenResult = {
    opened: 0,
    failed: 0,
    retried: 0,
    errors: {},
    startedAt: Math.min(...opens.map((o) => o.startedAt)),
    doneAt: Math.max(...opens.map((o) => o.doneAt)),
  };
  for (const o of opens) {
    open.opened += o.opened;
    open.failed += o.failed;
    open.retried += o.retried;
    for (const [reason, count] of Object.entries(o.errors))
      open.errors[reason] = (open.errors[reason] ?? 0) + count;
  }
  if (open.opened === 0)
    throw new Error(`${label}: no subscriber connected (${describeCounts(open.errors)})`);
  const publisher = new HttpPublisher(nodes[0].publishUrl);
  try {
    const figures = await measureFanout(ctx, publisher, channel, 'http-stream', open.opened);
    return { figures, opened: opens.map((o) => o.opened), open };
  } finally {
    await publisher.close();
  }
}

/** Whatever the two-node run started, stopped in reverse order; safe to call twice. */
class Started {
  private readonly items: { name: string; logFile: string; stop(): Promise<void> }[] = [];

  add<T extends { logFile: string; stop(): Promise<void> }>(name: string, item: T): T {
    this.items.push({ name, logFile: item.logFile, stop: () => item.stop() });
    return item;
  }

  /** The last lines of every log, for a failure. */
  logTails(): string {
    return this.items
      .filter((item) => fs.existsSync(item.logFile))
      .map((item) => `${item.name} log tail:\n${tail(fs.readFileSync(item.logFile, 'utf8'), 10)}`)
      .join('\n');
  }

  async stopAll(): Promise<void> {
    for (const item of this.items.splice(0).reverse()) await item.stop().catch(() => undefined);
  }
}

/**
 * Two thumbtack nodes sharing publishes through one private redis-server, against the node
 * the bench started for this workload (no Redis, `fanout`'s settings): the same fan-out on
 * both, subscribers split half/half over the two nodes, every publish to node A.
 */
async function measureTwoNodes(ctx: WorkloadContext): Promise<{ run: SetupRun; nodes: Sut[] }> {
  const { fleet, options } = ctx;
  const dir = fs.mkdtempSync(path.join(ctx.workDir, 'nodes-'));
  const started = new Started();
  const forget = ctx.track(() => started.stopAll());
  try {
    const redis = started.add('redis-server', await startRedis(dir));
    const nodes: Sut[] = [];
    for (const name of ['a', 'b']) {
      const workDir = path.join(dir, `node-${name}`);
      fs.mkdirSync(workDir);
      const node = await startThumbtack({
        backendPort: ctx.backendPort,
        workDir,
        workers: options.nodeWorkers,
        redis: redis.url,
      });
      nodes.push(started.add(`node ${name.toUpperCase()}`, node));
    }
    ctx.log(`nodes: two nodes on ${redis.url} (${nodes[0].description})`);
    return { run: await measureSetup(ctx, nodes, 'two nodes'), nodes };
  } catch (err) {
    process.stderr.write(`${started.logTails()}\n`);
    throw new Error(`two nodes: ${(err as Error).message}`, { cause: err });
  } finally {
    await fleet.closeAll().catch(() => undefined);
    await started.stopAll();
    forget();
  }
}

/**
 * `nodes`: thumbtack only, and only where redis-server is installed. The single node is the
 * system the bench started (sized like `fanout`); it is stopped before the two nodes start,
 * so each set-up has the machine to itself.
 */
export function nodesWorkload(options: BenchOptions): Workload {
  return {
    name: 'nodes',
    metrics,
    connections: options.nodeSubscribers,
    unavailable(sut) {
      if (sut !== 'thumbtack')
        return `${sut} has no equivalent of thumbtack's --redis (nodes sharing publishes)`;
      if (redisServerVersion() === undefined)
        return 'redis-server is not installed: install it (apt-get install -y redis-server)';
      return undefined;
    },
    async run(ctx): Promise<WorkloadResult> {
      const { sut, fleet, log } = ctx;
      log(`nodes: single node (${sut.description})`);
      const single = await measureSetup(ctx, [sut], 'one node');
      await fleet.closeAll();
      await sut.stop();
      const { run: two, nodes } = await measureTwoNodes(ctx);
      const singleFigures = setupFigures(single.figures);
      const twoFigures = setupFigures(two.figures);
      const comparison = compareNodes(singleFigures, twoFigures);
      const notes = [single, two].flatMap((setup, i) => {
        const note = connectNote(setup.open);
        return note ? [`${i === 0 ? 'one node' : 'two nodes'}: ${note}`] : [];
      });
      const summary = nodesSummary(
        {
          messages: options.messages,
          singleSystem: sut.description,
          singleSubscribers: single.open.opened,
          single: singleFigures,
          workersPerNode: options.nodeWorkers,
          nodeSubscribers: two.opened,
          two: twoFigures,
        },
        comparison,
      );
      return {
        workload: 'nodes',
        sut: sut.name,
        status: 'ok',
        note: notes.length > 0 ? notes.join('; ') : undefined,
        metrics: {
          ...prefixed('single', single.figures),
          ...prefixed('two', two.figures),
          deliveries_ratio: ratioValue(comparison.deliveriesRatio),
          p99_ratio: ratioValue(comparison.p99Ratio),
          targets: targetsVerdict(comparison),
        },
        // CPU profiles (--profile) cover the single node only: the bench started it.
        window: single.figures.window,
        detail: {
          targets: nodesTargets,
          single: { system: sut.description, ...single.figures.detail, ...single.figures.metrics },
          two: {
            systems: nodes.map((node) => node.description),
            redis: redisServerVersion(),
            subscribersPerNode: two.opened,
            publishedTo: 'node A',
            ...two.figures.detail,
            ...two.figures.metrics,
          },
        },
        summary: summary + notes.map((note) => `; ${note}`).join(''),
      };
    },
  };
}

function ratioValue(ratio: number | null): MetricValue {
  return ratio === null ? null : round(ratio);
}

function prefixed(prefix: string, figures: FanoutFigures): Record<string, MetricValue> {
  return Object.fromEntries(
    shownKeys.map((key) => [`${prefix}_${key}`, figures.metrics[key] ?? null]),
  );
}
