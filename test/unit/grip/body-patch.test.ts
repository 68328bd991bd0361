import { describe, expect, it } from 'vitest';
import { BodyPatchError } from '../../../src/errors.js';
import {
  applyBodyPatch,
  bodyPatchProblem,
  type BodyPatchOperation,
} from '../../../src/grip/body-patch.js';

const held = Buffer.from('{"count":1,"items":["a"]}\n');

describe('applyBodyPatch', () => {
  it('applies every RFC 6902 operation in order and keeps the trailing newline', () => {
    const patch: BodyPatchOperation[] = [
      { op: 'test', path: '/count', value: 1 },
      { op: 'replace', path: '/count', value: 2 },
      { op: 'add', path: '/items/-', value: 'b' },
      { op: 'copy', from: '/count', path: '/copied' },
      { op: 'move', from: '/copied', path: '/moved' },
      { op: 'remove', path: '/items/0' },
    ];
    expect(applyBodyPatch(held, patch).toString()).toBe('{"count":2,"items":["b"],"moved":2}\n');
  });

  it('keeps \\r\\n, or no ending, as the held body had it', () => {
    const patch: BodyPatchOperation[] = [{ op: 'add', path: '/b', value: true }];
    expect(applyBodyPatch(Buffer.from('{"a":1}\r\n'), patch).toString()).toBe(
      '{"a":1,"b":true}\r\n',
    );
    expect(applyBodyPatch(Buffer.from('{"a":1}'), patch).toString()).toBe('{"a":1,"b":true}');
    expect(
      applyBodyPatch(Buffer.from('[1]\n'), [{ op: 'add', path: '/0', value: 0 }]).toString(),
    ).toBe('[0,1]\n');
  });

  it('leaves the held body as it was (a second connection patches the original)', () => {
    const original = Buffer.from(held);
    applyBodyPatch(held, [{ op: 'remove', path: '/items' }]);
    expect(held).toEqual(original);
  });

  it.each([
    ['a body that is not JSON', Buffer.from('hello\n'), [], 'the held response body is not JSON'],
    [
      'a JSON body that is not an object or array',
      Buffer.from('"text"'),
      [],
      'the held response body is not a JSON object or array',
    ],
    [
      'a failed test operation',
      held,
      [{ op: 'test', path: '/count', value: 9 }],
      'the body-patch does not apply: Test operation failed (operation 0)',
    ],
    [
      'a path that does not exist',
      held,
      [
        { op: 'add', path: '/x', value: 1 },
        { op: 'remove', path: '/missing' },
      ],
      'the body-patch does not apply: Cannot perform the operation at a path that does not exist (operation 1)',
    ],
  ] as [string, Buffer, BodyPatchOperation[], string][])(
    'throws BodyPatchError for %s',
    (_name, body, patch, message) => {
      expect(() => applyBodyPatch(body, patch)).toThrow(BodyPatchError);
      expect(() => applyBodyPatch(body, patch)).toThrow(message);
    },
  );

  it('refuses a move that puts the body inside itself (found by the fuzz test)', () => {
    expect(() => applyBodyPatch(held, [{ op: 'move', from: '', path: '/a' }])).toThrow(
      'the patched body cannot be written as JSON (it contains itself)',
    );
  });

  it('refuses a copy or move from a path the body does not have, inherited ones included (found by npm run fuzz)', () => {
    const cases: [string, string, string][] = [
      ['{}\n', '/a', ''],
      ['[]\n', '/constructor', ''],
      ['{"a":[1]}\n', '/a/constructor', '/b'],
      ['{"a":{}}\n', '/a/__proto__', '/b'],
    ];
    for (const [body, from, path] of cases) {
      for (const op of ['copy', 'move'] as const) {
        expect(() => applyBodyPatch(Buffer.from(body), [{ op, from, path }])).toThrow(
          `the body-patch does not apply: ${op} from a path that does not exist (operation 0)`,
        );
      }
    }
    expect(
      applyBodyPatch(Buffer.from('{"a":{"~/":1}}'), [{ op: 'copy', from: '/a/~0~1', path: '/b' }]),
    ).toEqual(Buffer.from('{"a":{"~/":1},"b":1}'));
  });

  it('refuses to touch the prototype', () => {
    expect(() =>
      applyBodyPatch(held, [{ op: 'add', path: '/__proto__/polluted', value: 1 }]),
    ).toThrow(BodyPatchError);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});

describe('bodyPatchProblem', () => {
  it('accepts well-formed operations, whatever document they will meet', () => {
    expect(bodyPatchProblem([])).toBeUndefined();
    expect(bodyPatchProblem([{ op: 'remove', path: '/anything/at/all' }])).toBeUndefined();
  });

  it.each([
    [
      [{ op: 'merge', path: '/a' }],
      'Operation `op` property is not one of operations defined in RFC-6902 (operation 0)',
    ],
    [
      [{ op: 'add', path: '/a' }],
      'Operation `value` property is not present (applicable in `add`, `replace` and `test` operations) (operation 0)',
    ],
    [[{ op: 'move', path: '/a' }], 'Operation `from` property'],
    [['not an object'], 'Operation is not an object (operation 0)'],
  ])('names the problem in %j', (operations, message) => {
    expect(bodyPatchProblem(operations)).toContain(message);
  });
});
