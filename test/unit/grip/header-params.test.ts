import { describe, expect, it } from 'vitest';
import {
  decodeHeaderText,
  encodeHeaderText,
  findParam,
  parseHeaderInteger,
  parseHeaderPart,
  parseHeaderParams,
  parseHeaderParts,
  splitHeaderValues,
} from '../../../src/grip/header-params.js';

describe('splitHeaderValues', () => {
  const cases: [string, string[], string[]][] = [
    ['one value', ['a'], ['a']],
    ['comma-separated parts, trimmed', ['a, b ,c'], ['a', 'b', 'c']],
    ['several occurrences equal one joined header', ['a', 'b, c'], ['a', 'b', 'c']],
    ['commas inside quotes do not split', ['a; x="1,2", b'], ['a; x="1,2"', 'b']],
    ['escaped quote inside quotes', ['a; x="q\\",", b'], ['a; x="q\\","', 'b']],
    ['empty parts between commas are kept', ['a,,b'], ['a', '', 'b']],
    ['a trailing comma adds no part', ['a,'], ['a']],
    ['an empty value has no parts', [''], []],
    ['an unterminated quote keeps the rest as one part', ['a, b; x="1, c'], ['a', 'b; x="1, c']],
  ];
  it.each(cases)('%s', (_name, input, expected) => {
    expect(splitHeaderValues(input)).toEqual(expected);
  });
});

describe('parseHeaderPart', () => {
  const cases: [string, string, ReturnType<typeof parseHeaderPart>][] = [
    ['bare token', ' chan ', { value: 'chan', params: [] }],
    [
      'token with params',
      'chan; prev-id=7; filter=skip-self',
      {
        value: 'chan',
        params: [
          { name: 'prev-id', value: '7' },
          { name: 'filter', value: 'skip-self' },
        ],
      },
    ],
    [
      'parameter names are lower-cased, values kept',
      'x; Rel=Next',
      { value: 'x', params: [{ name: 'rel', value: 'Next' }] },
    ],
    [
      'a parameter without = has an undefined value',
      'x; flag; y=1',
      {
        value: 'x',
        params: [
          { name: 'flag', value: undefined },
          { name: 'y', value: '1' },
        ],
      },
    ],
    [
      'quoted value with ; and escapes',
      'x; a="1;2 \\"q\\" \\\\"; b=3',
      {
        value: 'x',
        params: [
          { name: 'a', value: '1;2 "q" \\' },
          { name: 'b', value: '3' },
        ],
      },
    ],
    [
      'whitespace before a quoted value is allowed',
      'x; a= "v"',
      { value: 'x', params: [{ name: 'a', value: 'v' }] },
    ],
    [
      'text after a closing quote is ignored up to the next ;',
      'x; a="v"junk; b=2',
      {
        value: 'x',
        params: [
          { name: 'a', value: 'v' },
          { name: 'b', value: '2' },
        ],
      },
    ],
    [
      'unquoted values are trimmed',
      'x; a = 1 ; b',
      {
        value: 'x',
        params: [
          { name: 'a', value: '1' },
          { name: 'b', value: undefined },
        ],
      },
    ],
    [
      'the first token is literal, quotes and = included',
      'a"b=c; d=1',
      { value: 'a"b=c', params: [{ name: 'd', value: '1' }] },
    ],
    ['unterminated quoted value', 'x; a="v', undefined],
    ['backslash at the end of a quoted value', 'x; a="v\\', undefined],
  ];
  it.each(cases)('%s', (_name, input, expected) => {
    expect(parseHeaderPart(input)).toEqual(expected);
  });
});

describe('parseHeaderParams', () => {
  it('parses the first token as name=value too (Grip-Set-Meta)', () => {
    expect(parseHeaderParams('user="alice"; x=1')).toEqual([
      { name: 'user', value: 'alice' },
      { name: 'x', value: '1' },
    ]);
  });
  it('returns no parameters for an empty string', () => {
    expect(parseHeaderParams('')).toEqual([]);
  });
  it('returns undefined for an unterminated quote', () => {
    expect(parseHeaderParams('user="alice')).toBeUndefined();
  });
});

describe('parseHeaderParts', () => {
  it('splits, parses and skips parts that cannot be parsed', () => {
    const parts = parseHeaderParts(['a; prev-id=1, b; x="open', 'c']);
    expect(parts.map((p) => p.value)).toEqual(['a', 'c']);
    expect(findParam(parts[0].params, 'prev-id')?.value).toBe('1');
  });
  it('findParam returns the first parameter of that name', () => {
    const part = parseHeaderPart('x; f=1; f=2')!;
    expect(findParam(part.params, 'f')?.value).toBe('1');
    expect(findParam(part.params, 'g')).toBeUndefined();
  });
});

describe('parseHeaderInteger', () => {
  const cases: [string | undefined, number | undefined][] = [
    ['0', 0],
    ['55', 55],
    [' 7 ', 7],
    ['+3', 3],
    ['-1', -1],
    ['2147483647', 2147483647],
    ['2147483648', undefined],
    ['', undefined],
    ['1.5', undefined],
    ['10s', undefined],
    ['0x10', undefined],
    [undefined, undefined],
  ];
  it.each(cases)('%j reads as %j', (input, expected) => {
    expect(parseHeaderInteger(input)).toBe(expected);
  });
});

describe('header text', () => {
  it('decodes UTF-8 bytes carried in a latin1 header string', () => {
    const bytes = Buffer.from('café ✓', 'utf8').toString('latin1');
    expect(decodeHeaderText(bytes)).toBe('café ✓');
    expect(encodeHeaderText('café ✓')).toBe(bytes);
  });
  it('leaves text that is not UTF-8 as bytes unchanged (already decoded, or latin1)', () => {
    expect(decodeHeaderText('café')).toBe('café');
    expect(decodeHeaderText('✓')).toBe('✓');
  });
  it('leaves ASCII unchanged', () => {
    expect(decodeHeaderText('plain')).toBe('plain');
    expect(encodeHeaderText('plain')).toBe('plain');
  });
});
