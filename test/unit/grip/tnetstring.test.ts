import { describe, expect, it } from 'vitest';
import { TnetstringError } from '../../../src/errors.js';
import {
  decodeTnetstring,
  encodeTnetstring,
  type TnetInput,
  type TnetValue,
} from '../../../src/grip/tnetstring.js';

const b = (text: string): Buffer => Buffer.from(text, 'utf8');

describe('tnetstring decode', () => {
  const cases: [string, string | Buffer, TnetValue][] = [
    ['empty byte string', '0:,', b('')],
    ['byte string', '5:hello,', b('hello')],
    ['byte string holding separators', '5:a:,]},', b('a:,]}')],
    ['integer', '3:123#', 123],
    ['negative integer', '2:-7#', -7],
    ['integer beyond 2^53 as bigint', '19:9223372036854775807#', 9223372036854775807n],
    ['float', '4:1.25^', 1.25],
    ['float with exponent', '5:-2e-3^', -0.002],
    ['true', '4:true!', true],
    ['false', '5:false!', false],
    ['null', '0:~', null],
    ['empty list', '0:]', []],
    ['list', '11:1:a,1:1#0:~]', [b('a'), 1, null]],
    ['empty dictionary', '0:}', {}],
    ['nested dictionary', '15:1:a,8:1:b,1:c,}}', { a: { b: b('c') } }],
    [
      'the protocol reference example',
      '63:7:channel,1:c,7:formats,35:11:http-stream,16:7:content,3:hi\n,}}}',
      { channel: b('c'), formats: { 'http-stream': { content: b('hi\n') } } },
    ],
    [
      'binary bytes',
      Buffer.concat([b('3:'), Buffer.from([0, 255, 10]), b(',')]),
      Buffer.from([0, 255, 10]),
    ],
  ];
  it.each(cases)('decodes %s', (_name, input, expected) => {
    expect(decodeTnetstring(Buffer.isBuffer(input) ? input : b(input))).toEqual(expected);
  });

  it('keeps a "__proto__" key as plain data', () => {
    const value = decodeTnetstring(b('16:9:__proto__,1:x,}')) as Record<string, TnetValue>;
    expect(Object.keys(value)).toEqual(['__proto__']);
    expect(value['__proto__']).toEqual(b('x'));
  });
});

describe('tnetstring decode rejects malformed input', () => {
  const cases: [string, string][] = [
    ['empty input', ''],
    ['no colon', '5hello,'],
    ['no length', ':hello,'],
    ['negative length', '-1:a,'],
    ['non-digit length', '1x:a,'],
    ['length past the end', '10:hello,'],
    ['missing type byte', '5:hello'],
    ['unknown type', '5:hello?'],
    ['trailing bytes', '5:hello,x'],
    ['bad integer', '3:1.5#'],
    ['empty integer', '0:#'],
    ['bad float', '3:abc^'],
    ['bad boolean', '3:yes!'],
    ['null with payload', '1:x~'],
    ['dictionary key not a string', '8:1:1#1:a,}'],
    ['dictionary key without value', '4:1:a,}'],
    ['list element past its container', '4:5:abc,]'],
    ['length prefix over nine digits', '0000000001:a,'],
  ];
  it.each(cases)('throws TnetstringError on %s', (_name, input) => {
    expect(() => decodeTnetstring(b(input))).toThrow(TnetstringError);
  });

  it('throws TnetstringError on nesting past the depth limit', () => {
    let text = '0:]';
    for (let i = 0; i < 100; i++) text = `${text.length}:${text}]`;
    expect(() => decodeTnetstring(b(text))).toThrow(TnetstringError);
  });
});

describe('tnetstring encode', () => {
  const cases: [string, TnetInput, string][] = [
    ['a JS string as a byte string', 'héllo', '6:héllo,'],
    ['a Buffer', b('abc'), '3:abc,'],
    ['an integer', 42, '2:42#'],
    ['a float', 0.5, '3:0.5^'],
    ['a bigint', 12345678901234567890n, '20:12345678901234567890#'],
    ['booleans', [true, false], '15:4:true!5:false!]'],
    ['null and undefined', [null, undefined], '6:0:~0:~]'],
    ['a dictionary, skipping undefined values', { a: 1, skip: undefined }, '8:1:a,1:1#}'],
  ];
  it.each(cases)('encodes %s', (_name, input, expected) => {
    expect(encodeTnetstring(input).toString('utf8')).toBe(expected);
  });

  it('writes integral doubles past the safe range as floats, so they read back as numbers (found by npm run fuzz)', () => {
    for (const value of [2 ** 53, -(2 ** 53), 1e21, -1e300]) {
      expect(decodeTnetstring(encodeTnetstring(value))).toBe(value);
    }
    expect(encodeTnetstring(1e21).toString()).toBe('5:1e+21^');
  });

  it('refuses non-finite numbers', () => {
    expect(() => encodeTnetstring(Number.NaN)).toThrow(TnetstringError);
    expect(() => encodeTnetstring(Infinity)).toThrow(TnetstringError);
  });
});

describe('tnetstring round trips', () => {
  const values: TnetInput[] = [
    { channel: 'c', formats: { 'ws-message': { 'content-bin': Buffer.from([0, 1, 2, 3]) } } },
    [1, -2, 3.5, true, false, null, 'x', [], {}],
    { nested: { list: [[['deep']]], n: 9007199254740993n } },
  ];
  it.each(values.map((v, i) => [i, v] as const))(
    'value %i survives encode then decode',
    (_i, value) => {
      const once = encodeTnetstring(value);
      const decoded = decodeTnetstring(once);
      expect(encodeTnetstring(decoded as TnetInput)).toEqual(once);
    },
  );
});
