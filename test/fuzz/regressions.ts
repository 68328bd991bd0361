import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/*
 * Counterexamples `npm run fuzz` found, kept as data in test/unit/fuzz/regressions/<target>.json
 * and replayed by `npm test` against the same property, so a found case stays fixed.
 * Values are written as JSON with tags for what JSON cannot hold (bytes, bigints, undefined,
 * non-finite numbers and -0).
 */

export interface RegressionCase {
  /** The first line of the failure, as found. */
  error: string;
  found: string;
  seed: number;
  value: unknown;
}

/** The project root, found upward from this file (it runs from test/ and from dist/test/). */
function projectRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  while (!fs.existsSync(path.join(dir, 'package.json'))) {
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error('no package.json above the fuzz runner');
    dir = parent;
  }
  return dir;
}

export const regressionsDir = path.join(projectRoot(), 'test/unit/fuzz/regressions');

function fileOf(target: string): string {
  return path.join(regressionsDir, `${target}.json`);
}

/** The recorded cases of a target (none when it has no file), values decoded. */
export function readRegressions(target: string): RegressionCase[] {
  let text: string;
  try {
    text = fs.readFileSync(fileOf(target), 'utf8');
  } catch {
    return [];
  }
  const cases = JSON.parse(text) as RegressionCase[];
  return cases.map((c) => ({ ...c, value: fromJson(c.value) }));
}

/** Appends `found` unless an equal value is already recorded; returns how many were new. */
export function appendRegressions(target: string, found: RegressionCase[]): number {
  const stored = fs.existsSync(fileOf(target))
    ? (JSON.parse(fs.readFileSync(fileOf(target), 'utf8')) as RegressionCase[])
    : [];
  const known = new Set(stored.map((c) => JSON.stringify(c.value)));
  let added = 0;
  for (const c of found) {
    const value = toJson(c.value);
    const key = JSON.stringify(value);
    if (known.has(key)) continue;
    known.add(key);
    stored.push({ ...c, value });
    added++;
  }
  if (added > 0) {
    fs.mkdirSync(regressionsDir, { recursive: true });
    fs.writeFileSync(fileOf(target), JSON.stringify(stored, null, 2) + '\n');
  }
  return added;
}

/** A JSON-safe form of a generated value. */
export function toJson(value: unknown): unknown {
  if (Buffer.isBuffer(value)) return { $bytes: value.toString('base64') };
  if (value instanceof Uint8Array) return { $uint8: Buffer.from(value).toString('base64') };
  if (typeof value === 'bigint') return { $bigint: value.toString() };
  if (value === undefined) return { $undefined: true };
  if (typeof value === 'number' && (!Number.isFinite(value) || Object.is(value, -0))) {
    return { $number: Object.is(value, -0) ? '-0' : String(value) };
  }
  if (Array.isArray(value)) return value.map(toJson);
  if (typeof value === 'object' && value !== null) {
    const entries = Object.entries(value).map(([k, v]) => [k, toJson(v)] as const);
    const object = Object.fromEntries(entries);
    // A generated object whose keys look like tags is wrapped, so it reads back as itself.
    return entries.some(([k]) => k.startsWith('$')) ? { $object: object } : object;
  }
  return value;
}

/** The inverse of toJson. */
export function fromJson(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(fromJson);
  if (typeof value !== 'object' || value === null) return value;
  const tagged = value as Record<string, unknown>;
  if (typeof tagged['$bytes'] === 'string') return Buffer.from(tagged['$bytes'], 'base64');
  if (typeof tagged['$uint8'] === 'string') {
    return new Uint8Array(Buffer.from(tagged['$uint8'], 'base64'));
  }
  if (typeof tagged['$bigint'] === 'string') return BigInt(tagged['$bigint']);
  if (tagged['$undefined'] === true) return undefined;
  if (typeof tagged['$number'] === 'string') return Number(tagged['$number']);
  const object = (tagged['$object'] ?? tagged) as Record<string, unknown>;
  // fromEntries defines own properties, so a "__proto__" key stays a plain key.
  return Object.fromEntries(Object.entries(object).map(([k, v]) => [k, fromJson(v)]));
}
