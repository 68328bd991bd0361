import fs from 'node:fs';
import path from 'node:path';

/*
 * Heap snapshots of a thumbtack process without a hook in the product: the process runs
 * with NODE_OPTIONS `--heapsnapshot-signal=SIGUSR2 --diagnostic-dir=DIR`, SIGUSR2 makes V8
 * collect garbage and write a snapshot there, and the live objects are counted by kind.
 */

/** The NODE_OPTIONS that let `takeHeapSnapshot` work on a process started with them. */
export function heapSnapshotNodeOptions(dir: string): string {
  return `--heapsnapshot-signal=SIGUSR2 --diagnostic-dir=${dir}`;
}

/** Node types counted: what a program allocates (not code, strings or V8's own hidden nodes). */
const countedTypes = new Set(['object', 'closure', 'array', 'native', 'regexp']);

interface SnapshotJson {
  snapshot: { meta: { node_fields: string[]; node_types: [string[], ...unknown[]] } };
  nodes: number[];
  strings: string[];
}

/**
 * Signals `pid` and waits (bounded) for its snapshot in `dir`; returns the live objects by
 * `type:constructor` name. The snapshot file is removed once counted (tens of MB each).
 */
export async function takeHeapSnapshot(
  pid: number,
  dir: string,
  timeoutMs = 60_000,
): Promise<Map<string, number>> {
  const before = new Set(snapshotFiles(dir, pid));
  process.kill(pid, 'SIGUSR2');
  const deadline = Date.now() + timeoutMs;
  let lastSize = -1;
  while (Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 200));
    const file = snapshotFiles(dir, pid).find((f) => !before.has(f));
    if (!file) continue;
    // V8 writes the file while the process stands still: read it once it stops growing.
    const size = fs.statSync(file).size;
    if (size !== lastSize) {
      lastSize = size;
      continue;
    }
    try {
      const counts = countObjects(JSON.parse(fs.readFileSync(file, 'utf8')) as SnapshotJson);
      fs.rmSync(file, { force: true });
      return counts;
    } catch {
      // not complete yet
    }
  }
  throw new Error(`no heap snapshot of process ${pid} in ${dir} within ${timeoutMs} ms`);
}

function snapshotFiles(dir: string, pid: number): string[] {
  return fs
    .readdirSync(dir)
    .filter((f) => f.endsWith('.heapsnapshot') && f.includes(`.${pid}.`))
    .map((f) => path.join(dir, f));
}

function countObjects(json: SnapshotJson): Map<string, number> {
  const fields = json.snapshot.meta.node_fields;
  const types = json.snapshot.meta.node_types[0];
  const stride = fields.length;
  const typeAt = fields.indexOf('type');
  const nameAt = fields.indexOf('name');
  const counts = new Map<string, number>();
  const { nodes, strings } = json;
  for (let i = 0; i < nodes.length; i += stride) {
    const type = types[nodes[i + typeAt]!]!;
    if (!countedTypes.has(type)) continue;
    const key = `${type}:${strings[nodes[i + nameAt]!]}`;
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  return counts;
}

/** Total of the counts. */
export function totalObjects(counts: Map<string, number>): number {
  let total = 0;
  for (const n of counts.values()) total += n;
  return total;
}

/** The kinds that grew most from `before` to `after`, as `name +n`. */
export function topGrowth(
  before: Map<string, number>,
  after: Map<string, number>,
  count = 5,
): string[] {
  return [...after]
    .map(([key, n]) => [key, n - (before.get(key) ?? 0)] as const)
    .filter(([, grown]) => grown > 0)
    .sort((a, b) => b[1] - a[1])
    .slice(0, count)
    .map(([key, grown]) => `${key} +${grown}`);
}
