import { inspect } from 'node:util';
import fc from 'fast-check';

/*
 * One fuzz target: an arbitrary and the check every generated value must pass. The same
 * definition runs in `npm test` (fixed seed, a few thousand runs) and in `npm run fuzz`
 * (millions of runs, failures written to test/unit/fuzz/regressions/<name>.json and
 * replayed by `npm test`).
 */
export interface FuzzTarget<T = unknown> {
  /** kebab-case; also the name of the target's regressions file. */
  name: string;
  /** The property in words, as the test's name. */
  summary: string;
  arbitrary: fc.Arbitrary<T>;
  /** Throws when `value` breaks the property; async checks return a promise. */
  check(value: T): void | Promise<void>;
  isAsync?: boolean;
  /** Runs in `npm test` (default 2000); lower for slow targets so the file stays at a few seconds. */
  testRuns?: number;
}

/** Widens a target's value type so targets of different types share one list. */
export function defineTarget<T>(target: FuzzTarget<T>): FuzzTarget {
  return target as FuzzTarget;
}

/** The fast-check property of a target (async targets get an async property). */
export function targetProperty(target: FuzzTarget): fc.IRawProperty<[unknown]> {
  return target.isAsync
    ? fc.asyncProperty(target.arbitrary, async (value) => {
        await target.check(value);
      })
    : fc.property(target.arbitrary, (value) => {
        target.check(value);
      });
}

type ErrorClass = abstract new (...args: never[]) => Error;

/**
 * Runs `parse` and returns what it returned, or undefined when it threw one of `errorClasses`;
 * anything else it throws (a TypeError, a RangeError, a stack overflow) is rethrown.
 */
export function returnsOrThrows<R>(errorClasses: ErrorClass | ErrorClass[], parse: () => R) {
  const classes = Array.isArray(errorClasses) ? errorClasses : [errorClasses];
  try {
    return parse();
  } catch (err) {
    if (!classes.some((errorClass) => err instanceof errorClass)) throw err;
    return undefined;
  }
}

/** Throws with `message` unless `condition` holds (a property's own invariant). */
export function ensure(condition: boolean, message: string): asserts condition {
  if (!condition) throw new Error(message);
}

/**
 * Throws unless `actual` equals `expected`: bytes by content, arrays and objects by own
 * enumerable entries (prototypes ignored: decoders return null-prototype dictionaries),
 * anything else by Object.is. vitest's expect only works inside vitest; the runner is not.
 */
export function expectEqual(actual: unknown, expected: unknown, what = 'value'): void {
  if (!isEqual(actual, expected)) {
    throw new Error(
      `${what} differs:\n  got      ${inspect(actual, { depth: 6 })}\n  expected ${inspect(expected, { depth: 6 })}`,
    );
  }
}

function isEqual(a: unknown, b: unknown): boolean {
  if (Object.is(a, b)) return true;
  if (a instanceof Uint8Array || b instanceof Uint8Array) {
    return a instanceof Uint8Array && b instanceof Uint8Array && Buffer.from(a).equals(b);
  }
  if (Array.isArray(a) || Array.isArray(b)) {
    return (
      Array.isArray(a) &&
      Array.isArray(b) &&
      a.length === b.length &&
      a.every((item, i) => isEqual(item, b[i]))
    );
  }
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  const aKeys = Object.keys(a).filter((k) => (a as Record<string, unknown>)[k] !== undefined);
  const bKeys = Object.keys(b).filter((k) => (b as Record<string, unknown>)[k] !== undefined);
  return (
    aKeys.length === bKeys.length &&
    aKeys.every(
      (k) =>
        Object.hasOwn(b, k) &&
        isEqual((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]),
    )
  );
}

/** Bytes biased toward the characters the formats care about. */
export const wireBytes: fc.Arbitrary<Buffer> = fc.oneof(
  fc.uint8Array({ maxLength: 200 }).map((bytes) => Buffer.from(bytes)),
  fc
    .array(fc.constantFrom(...'0123456789:,;=#]}~^! TEXTOPENCLOSE\r\n"\\{}[]%()sI'), {
      maxLength: 120,
    })
    .map((chars) => Buffer.from(chars.join(''), 'latin1')),
);

/** Header-like text: any string, byte strings, and the separators header syntax uses. */
export const wireText: fc.Arbitrary<string> = fc.oneof(
  fc.string({ maxLength: 120 }),
  fc.string({ unit: 'binary', maxLength: 60 }),
  fc
    .array(fc.constantFrom(...'abc019;,="\\ <>/-_.\t'), { maxLength: 80 })
    .map((chars) => chars.join('')),
);

/** One edit of a byte string: what a truncated, corrupted or spliced message looks like. */
type Edit =
  | { kind: 'truncate'; at: number }
  | { kind: 'set'; at: number; byte: number }
  | { kind: 'insert'; at: number; bytes: Uint8Array }
  | { kind: 'delete'; at: number; length: number }
  | { kind: 'repeat'; at: number; length: number; times: number };

const edit: fc.Arbitrary<Edit> = fc.oneof(
  fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('set' as const), at: fc.nat(), byte: fc.nat({ max: 255 }) }),
  fc.record({
    kind: fc.constant('insert' as const),
    at: fc.nat(),
    bytes: fc.uint8Array({ minLength: 1, maxLength: 8 }),
  }),
  fc.record({ kind: fc.constant('delete' as const), at: fc.nat(), length: fc.nat({ max: 8 }) }),
  fc.record({
    kind: fc.constant('repeat' as const),
    at: fc.nat(),
    length: fc.integer({ min: 1, max: 16 }),
    times: fc.integer({ min: 2, max: 40 }),
  }),
);

function applyEdit(bytes: Buffer, e: Edit): Buffer {
  const at = bytes.length === 0 ? 0 : e.at % (bytes.length + 1);
  switch (e.kind) {
    case 'truncate':
      return bytes.subarray(0, at);
    case 'set': {
      if (at >= bytes.length) return bytes;
      const out = Buffer.from(bytes);
      out[at] = e.byte;
      return out;
    }
    case 'insert':
      return Buffer.concat([bytes.subarray(0, at), e.bytes, bytes.subarray(at)]);
    case 'delete':
      return Buffer.concat([bytes.subarray(0, at), bytes.subarray(at + e.length)]);
    case 'repeat': {
      const slice = bytes.subarray(at, at + e.length);
      return Buffer.concat([
        bytes.subarray(0, at),
        ...Array(e.times).fill(slice),
        bytes.subarray(at),
      ]);
    }
  }
}

/** Valid encodings with a few random edits: input that gets past a parser's first checks. */
export function mutated(valid: fc.Arbitrary<Buffer>): fc.Arbitrary<Buffer> {
  return fc
    .tuple(valid, fc.array(edit, { minLength: 1, maxLength: 3 }))
    .map(([bytes, edits]) => edits.reduce(applyEdit, bytes));
}

/** Text variant of `mutated` (edits on the UTF-8 bytes, read back as UTF-8). */
export function mutatedText(valid: fc.Arbitrary<string>): fc.Arbitrary<string> {
  return mutated(valid.map((text) => Buffer.from(text, 'utf8'))).map((b) => b.toString('utf8'));
}
