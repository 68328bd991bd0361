import fs from 'node:fs';
import { pathToFileURL } from 'node:url';

/**
 * What a process keeps per connection, from two V8 heap snapshots of it (`.heapsnapshot`,
 * e.g. written on `--heapsnapshot-signal`): one before the connections were opened, one
 * while they are held. Objects are grouped by constructor (or by node type for strings,
 * closures, arrays and V8 internals); the difference between the snapshots, divided by
 * the connections held, is the JS heap each connection costs.
 */

interface Snapshot {
  snapshot: {
    meta: {
      node_fields: string[];
      node_types: [string[], ...unknown[]];
      edge_fields: string[];
      edge_types: [string[], ...unknown[]];
    };
  };
  nodes: number[];
  edges: number[];
  strings: string[];
}

export interface GroupSize {
  group: string;
  count: number;
  selfBytes: number;
}

export interface HeapGroups {
  groups: Map<string, GroupSize>;
  /** Average retained size of a node per group, for the groups asked for. */
  retained: Map<string, number>;
  totalBytes: number;
}

/** Node types whose names are contents (strings, numbers) rather than kinds. */
const anonymousTypes = new Set(['string', 'concatenated string', 'sliced string', 'number']);

function groupName(type: string, name: string): string {
  if (type === 'object') return name;
  if (anonymousTypes.has(type)) return `(${type})`;
  // Closures by function name; arrays and internals by what V8 calls them.
  return `(${type}) ${name.length > 60 ? `${name.slice(0, 57)}...` : name}`;
}

export function readHeapGroups(file: string, retainedOf: string[] = []): HeapGroups {
  const heap = JSON.parse(fs.readFileSync(file, 'utf8')) as Snapshot;
  const { meta } = heap.snapshot;
  const nodeFields = meta.node_fields.length;
  const edgeFields = meta.edge_fields.length;
  const typeAt = meta.node_fields.indexOf('type');
  const nameAt = meta.node_fields.indexOf('name');
  const selfAt = meta.node_fields.indexOf('self_size');
  const edgeCountAt = meta.node_fields.indexOf('edge_count');
  const edgeTypeAt = meta.edge_fields.indexOf('type');
  const edgeToAt = meta.edge_fields.indexOf('to_node');
  const nodeTypes = meta.node_types[0];
  const edgeTypes = meta.edge_types[0];
  const weak = edgeTypes.indexOf('weak');
  const shortcut = edgeTypes.indexOf('shortcut');
  const { nodes, edges, strings } = heap;
  const count = nodes.length / nodeFields;

  const group: string[] = new Array<string>(count);
  const groups = new Map<string, GroupSize>();
  let totalBytes = 0;
  for (let i = 0; i < count; i++) {
    const base = i * nodeFields;
    const name = groupName(nodeTypes[nodes[base + typeAt]], strings[nodes[base + nameAt]]);
    group[i] = name;
    const self = nodes[base + selfAt];
    totalBytes += self;
    const entry = groups.get(name);
    if (entry) {
      entry.count++;
      entry.selfBytes += self;
    } else {
      groups.set(name, { group: name, count: 1, selfBytes: self });
    }
  }

  const retained = new Map<string, number>();
  if (retainedOf.length > 0) {
    const wanted = new Set(retainedOf);
    const firstEdge = new Uint32Array(count + 1);
    for (let i = 0; i < count; i++) {
      firstEdge[i + 1] = firstEdge[i] + nodes[i * nodeFields + edgeCountAt];
    }
    const isFollowed = (e: number) => {
      const t = edges[e * edgeFields + edgeTypeAt];
      return t !== weak && t !== shortcut;
    };
    const target = (e: number) => edges[e * edgeFields + edgeToAt] / nodeFields;
    const sizes = retainedSizes(count, firstEdge, isFollowed, target, (i) => {
      return nodes[i * nodeFields + selfAt];
    });
    const sums = new Map<string, { n: number; bytes: number }>();
    for (let i = 0; i < count; i++) {
      if (!wanted.has(group[i])) continue;
      const s = sums.get(group[i]) ?? { n: 0, bytes: 0 };
      s.n++;
      s.bytes += sizes[i];
      sums.set(group[i], s);
    }
    for (const [name, s] of sums) retained.set(name, s.bytes / s.n);
  }
  return { groups, retained, totalBytes };
}

/**
 * Retained size of every node: its own size plus that of the nodes it dominates (every
 * path from the root to them passes through it). Dominators by Cooper, Harvey and
 * Kennedy's iterative algorithm over reverse postorder from node 0 (the snapshot's root).
 */
function retainedSizes(
  count: number,
  firstEdge: Uint32Array,
  isFollowed: (edge: number) => boolean,
  target: (edge: number) => number,
  selfSize: (node: number) => number,
): Float64Array {
  const order = new Int32Array(count).fill(-1); // postorder number
  const post: number[] = [];
  const stack: number[] = [0];
  const next = new Uint32Array(count);
  for (let i = 0; i < count; i++) next[i] = firstEdge[i];
  const seen = new Uint8Array(count);
  seen[0] = 1;
  while (stack.length > 0) {
    const node = stack[stack.length - 1];
    let pushed = false;
    while (next[node] < firstEdge[node + 1]) {
      const e = next[node]++;
      if (!isFollowed(e)) continue;
      const to = target(e);
      if (seen[to]) continue;
      seen[to] = 1;
      stack.push(to);
      pushed = true;
      break;
    }
    if (!pushed) {
      stack.pop();
      order[node] = post.length;
      post.push(node);
    }
  }
  // Predecessors of every reached node.
  const predCount = new Uint32Array(count + 1);
  for (let n = 0; n < count; n++) {
    if (!seen[n]) continue;
    for (let e = firstEdge[n]; e < firstEdge[n + 1]; e++) {
      if (isFollowed(e) && seen[target(e)]) predCount[target(e) + 1]++;
    }
  }
  for (let i = 0; i < count; i++) predCount[i + 1] += predCount[i];
  const preds = new Uint32Array(predCount[count]);
  const fill = predCount.slice(0, count);
  for (let n = 0; n < count; n++) {
    if (!seen[n]) continue;
    for (let e = firstEdge[n]; e < firstEdge[n + 1]; e++) {
      const to = target(e);
      if (isFollowed(e) && seen[to]) preds[fill[to]++] = n;
    }
  }
  const idom = new Int32Array(count).fill(-1);
  idom[0] = 0;
  const intersect = (a: number, b: number) => {
    while (a !== b) {
      while (order[a] < order[b]) a = idom[a];
      while (order[b] < order[a]) b = idom[b];
    }
    return a;
  };
  for (let changed = true; changed;) {
    changed = false;
    for (let k = post.length - 2; k >= 0; k--) {
      const n = post[k];
      let dom = -1;
      for (let p = predCount[n]; p < predCount[n + 1]; p++) {
        const pred = preds[p];
        if (idom[pred] === -1) continue;
        dom = dom === -1 ? pred : intersect(pred, dom);
      }
      if (dom !== -1 && idom[n] !== dom) {
        idom[n] = dom;
        changed = true;
      }
    }
  }
  const sizes = new Float64Array(count);
  for (let n = 0; n < count; n++) if (seen[n]) sizes[n] = selfSize(n);
  // Postorder visits a node's dominated nodes before it.
  for (const n of post) if (n !== 0) sizes[idom[n]] += sizes[n];
  return sizes;
}

export interface GroupGrowth extends GroupSize {
  bytesPerConnection: number;
  countPerConnection: number;
  retainedBytes?: number;
}

/** Groups that grew between the snapshots, largest growth first. */
export function heapGrowth(
  before: HeapGroups,
  after: HeapGroups,
  connections: number,
): GroupGrowth[] {
  const out: GroupGrowth[] = [];
  for (const [name, a] of after.groups) {
    const b = before.groups.get(name) ?? { count: 0, selfBytes: 0 };
    const count = a.count - b.count;
    const selfBytes = a.selfBytes - b.selfBytes;
    out.push({
      group: name,
      count,
      selfBytes,
      countPerConnection: count / connections,
      bytesPerConnection: selfBytes / connections,
      retainedBytes: after.retained.get(name),
    });
  }
  return out.sort((x, y) => y.selfBytes - x.selfBytes);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const [beforeFile, afterFile, connections, top, ...retainedOf] = process.argv.slice(2);
  if (!beforeFile || !afterFile || !(Number(connections) > 0)) {
    process.stderr.write(
      'usage: node dist/bench/report/heap-summary.js BEFORE.heapsnapshot AFTER.heapsnapshot ' +
        'CONNECTIONS [TOP] [CONSTRUCTOR...]\n' +
        '  CONNECTIONS: connections the process held in AFTER and not in BEFORE\n' +
        '  CONSTRUCTOR: groups whose average retained size (in AFTER) to print too\n',
    );
    process.exit(2);
  }
  const n = Number(connections);
  const before = readHeapGroups(beforeFile);
  const after = readHeapGroups(afterFile, retainedOf);
  const rows = heapGrowth(before, after, n).slice(0, Number(top) || 30);
  const total = (after.totalBytes - before.totalBytes) / n;
  process.stdout.write(`JS heap growth per connection: ${total.toFixed(0)} B (${n} connections)\n`);
  process.stdout.write('bytes/conn  count/conn  group\n');
  for (const r of rows) {
    process.stdout.write(
      `${r.bytesPerConnection.toFixed(1).padStart(10)}  ${r.countPerConnection.toFixed(2).padStart(10)}  ${r.group}` +
        (r.retainedBytes !== undefined ? `  (retains ${r.retainedBytes.toFixed(0)} B each)` : '') +
        '\n',
    );
  }
}
