import { describe, expect, it } from 'vitest';
import { renderPercentFormat } from '../../../src/grip/percent-format.js';

/** Writes each directive back as <type> or <type:arg>; `%E` and `%(x)E` fail. */
function echo(_context: undefined, type: string, arg: Buffer | undefined): Buffer | string {
  if (type === 'E') return 'Echo refused';
  return Buffer.from(arg === undefined ? `<${type}>` : `<${type}:${arg.toString()}>`);
}

function render(input: string): string {
  const out = renderPercentFormat(Buffer.from(input), echo, undefined);
  return typeof out === 'string' ? `error: ${out}` : out.toString();
}

describe('renderPercentFormat', () => {
  const cases: [string, string, string][] = [
    ['no directive', 'plain text', 'plain text'],
    ['%% is a literal %', '100%% sure %%%%', '100% sure %%'],
    ['a letter directive without argument', 'a%Ib', 'a<I>b'],
    ['a directive with an argument', '%(name)s!', '<s:name>!'],
    ['a backslash escapes ) and \\ in the argument', '%(a\\)b\\\\c)s', '<s:a)b\\c>'],
    ['an empty argument', '%()s', '<s:>'],
    ['directives back to back', '%I%(x)I%%', '<I><I:x>%'],
    ['multi-byte text around a directive', 'é %I ü', 'é <I> ü'],
    ['a trailing %', 'hi %', "error: Expected directive after '%' at position 3"],
    ['a non-letter directive', '% x', "error: Unknown directive ' ' at position 1"],
    ['a digit directive', '%1', "error: Unknown directive '1' at position 1"],
    ['a lone (', '%(', "error: Expected character after '(' at position 1"],
    ['an unterminated field', 'x%(abc', 'error: Unterminated field starting at position 2'],
    ['a field with no directive', '%(abc)', "error: Expected directive after ')' at position 5"],
    [
      'a trailing backslash in a field',
      '%(a\\',
      "error: Expected character after '\\' at position 3",
    ],
    ['the handler refusing a bare directive', 'ok %E', 'error: Echo refused at position 4'],
    [
      'the handler refusing a directive with argument',
      '%(x)E',
      'error: Echo refused at position 4',
    ],
  ];
  it.each(cases)('%s', (_name, input, expected) => {
    expect(render(input)).toBe(expected);
  });

  it('returns the same buffer when there is no % at all', () => {
    const input = Buffer.from('nothing to do');
    expect(renderPercentFormat(input, echo, undefined)).toBe(input);
  });

  it('keeps bytes that are not UTF-8', () => {
    const input = Buffer.from([0xff, 0x25, 0x25, 0xfe]);
    expect(renderPercentFormat(input, echo, undefined)).toEqual(Buffer.from([0xff, 0x25, 0xfe]));
  });
});
