import fc from 'fast-check';
import { BodyPatchError } from '../../../src/errors.js';
import { applyBodyPatch, bodyPatchProblem } from '../../../src/grip/body-patch.js';
import {
  applyFilters,
  filterResponseBody,
  prepareFilters,
  refusedFilters,
  substituteVariables,
  unsupportedFilters,
} from '../../../src/grip/filters.js';
import { buildId, renderIdContent, renderIdFormat } from '../../../src/grip/id-format.js';
import { defineTarget, expectEqual, ensure, returnsOrThrows, wireBytes } from '../target.js';

/* Content the proxy rewrites: the `%` directive filters, build-id, body-patch. */

const vars = fc.dictionary(
  fc.oneof(fc.string({ maxLength: 6 }), fc.constantFrom('id_format', 'id_encoding', 'user')),
  fc.oneof(fc.string({ maxLength: 10 }), fc.constantFrom('hex', '%(a)s', '%%', '%I')),
  { maxKeys: 3 },
);

/** `%` written as `%%`: the text every directive renderer reads back unchanged. */
function escapePercent(bytes: Buffer): Buffer {
  return Buffer.from(bytes.toString('latin1').replaceAll('%', '%%'), 'latin1');
}

/** A `%(name)X` argument with `)` and `\` escaped by a backslash. */
function escapeArgument(name: string): string {
  return name.replace(/[\\)]/g, (c) => '\\' + c);
}

const filterName = fc.constantFrom(
  'skip-self',
  'skip-users',
  'require-sub',
  'build-id',
  'var-subst',
  'http-check',
  'other',
);
const channels = fc.array(
  fc.record({
    name: fc.constantFrom('a', 'b', 'p-a'),
    filters: fc.array(filterName, { maxLength: 3 }),
    prevId: fc.option(fc.string({ maxLength: 3 }), { nil: undefined }),
  }),
  { maxLength: 3 },
);

export const gripContentTargets = [
  defineTarget({
    name: 'percent-format-round-trip',
    summary: 'content filters: bytes with % escaped render back to the bytes',
    arbitrary: fc.tuple(wireBytes, vars),
    check: ([bytes, meta]) => {
      const escaped = escapePercent(bytes);
      expectEqual(substituteVariables(escaped, meta), bytes);
      expectEqual(renderIdContent(escaped, undefined, false), bytes);
      expectEqual(renderIdFormat(escaped, { get: () => undefined }), bytes);
    },
  }),
  defineTarget({
    name: 'var-subst-round-trip',
    summary: 'var-subst: a template of literals and %(name)s renders to the literals and values',
    arbitrary: fc.tuple(
      fc.dictionary(fc.string({ unit: 'grapheme', maxLength: 6 }), fc.string({ maxLength: 6 }), {
        minKeys: 1,
        maxKeys: 3,
      }),
      fc.array(fc.oneof(wireBytes, fc.nat()), { maxLength: 6 }),
    ),
    check: ([meta, pieces]) => {
      const names = Object.keys(meta);
      const template: Buffer[] = [];
      const expected: Buffer[] = [];
      for (const piece of pieces) {
        if (typeof piece === 'number') {
          const name = names[piece % names.length]!;
          template.push(Buffer.from(`%(${escapeArgument(name)})s`, 'utf8'));
          expected.push(Buffer.from(meta[name]!, 'utf8'));
        } else {
          template.push(escapePercent(piece));
          expected.push(piece);
        }
      }
      expectEqual(substituteVariables(Buffer.concat(template), meta), Buffer.concat(expected));
    },
  }),
  defineTarget({
    name: 'filters',
    testRuns: 1000,
    summary: 'filters: any subscription, meta and content filter or drop, never throw',
    arbitrary: fc.record({
      channels,
      meta: vars,
      publishMeta: fc.option(vars, { nil: undefined }),
      content: wireBytes,
      contentFilters: fc.option(fc.array(filterName, { maxLength: 2 }), { nil: undefined }),
      itemId: fc.option(fc.string({ maxLength: 4 }), { nil: undefined }),
      ids: fc.dictionary(fc.string({ maxLength: 4 }), fc.string({ maxLength: 4 })),
    }),
    check: ({ channels, meta, publishMeta, content, contentFilters, itemId, ids }) => {
      const positions = new Map(
        channels.flatMap((c) => (c.prevId === undefined ? [] : [[c.name, c.prevId] as const])),
      );
      const prepared = prepareFilters(channels, meta, 'p-', positions);
      for (const channel of channels) {
        applyFilters(prepared, channel.name, publishMeta, content, contentFilters, itemId);
      }
      unsupportedFilters(channels);
      refusedFilters(channels);
      filterResponseBody(channels, meta, content);
      substituteVariables(content, meta);
      buildId(content, meta, { get: (name) => (Object.hasOwn(ids, name) ? ids[name] : undefined) });
      buildId(content, meta, undefined);
    },
  }),
  defineTarget({
    name: 'body-patch-problem',
    summary: 'body-patch: any published operation list is judged, never throws',
    arbitrary: fc.array(
      fc.oneof(
        fc.jsonValue({ maxDepth: 2 }),
        fc.record(
          {
            op: fc.oneof(
              fc.constantFrom('add', 'remove', 'replace', 'move', 'copy', 'test', '_get'),
              fc.jsonValue({ maxDepth: 0 }),
            ),
            path: fc.oneof(
              fc.constantFrom('', '/a', '/0', '/-', '/__proto__/x', 'a'),
              fc.jsonValue({ maxDepth: 0 }),
            ),
            from: fc.oneof(fc.constantFrom('/a', '/b/0'), fc.jsonValue({ maxDepth: 0 })),
            value: fc.jsonValue({ maxDepth: 2 }),
          },
          { requiredKeys: [] },
        ),
      ),
      { maxLength: 4 },
    ),
    check: (operations) => {
      const problem = bodyPatchProblem(operations);
      ensure(problem === undefined || typeof problem === 'string', 'not a problem or undefined');
    },
  }),
  defineTarget({
    name: 'body-patch-apply',
    summary: 'body-patch: well-formed operations on any held body apply or throw BodyPatchError',
    arbitrary: (() => {
      const pointer = fc
        .array(fc.constantFrom('a', 'b', '0', '1', '-', '~0', '~1', '__proto__', 'constructor'), {
          maxLength: 3,
        })
        .map((parts) => parts.map((part) => '/' + part).join(''));
      const operation = fc.record({
        op: fc.constantFrom('add', 'remove', 'replace', 'move', 'copy', 'test', '_get'),
        path: pointer,
        from: pointer,
        value: fc.jsonValue({ maxDepth: 2 }),
      });
      const body = fc.oneof(
        fc.jsonValue({ maxDepth: 3 }).map((value) => Buffer.from(JSON.stringify(value) + '\n')),
        wireBytes,
      );
      return fc.tuple(body, fc.array(operation, { maxLength: 4 }));
    })(),
    check: ([held, operations]) => {
      if (bodyPatchProblem(operations) !== undefined) return;
      const patched = returnsOrThrows(BodyPatchError, () =>
        applyBodyPatch(held, operations as Parameters<typeof applyBodyPatch>[1]),
      );
      if (patched) JSON.parse(patched.toString('utf8'));
      // The library must not have touched a shared prototype.
      ensure(!('a' in {}) && !('b' in {}), 'Object.prototype was polluted');
    },
  }),
];
