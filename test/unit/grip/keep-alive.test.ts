import { createKeepAliveHeader } from '@fanoutio/grip';
import { describe, expect, it } from 'vitest';
import { GripInstructError } from '../../../src/errors.js';
import { decodeCString, encodeCString, parseGripKeepAlive } from '../../../src/grip/keep-alive.js';

describe('decodeCString', () => {
  const cases: [string, string, Buffer][] = [
    ['plain text', 'ka', Buffer.from('ka')],
    ['\\n and \\r', 'a\\r\\nb', Buffer.from('a\r\nb')],
    ['backslash', 'a\\\\b', Buffer.from('a\\b')],
    ['\\t as TAB (js-grip emits it)', 'a\\tb', Buffer.from('a\tb')],
    ['\\xHH in either case', '\\x00\\xfF\\x3b', Buffer.from([0x00, 0xff, 0x3b])],
    ['unknown escapes are dropped like Pushpin', 'a\\qb', Buffer.from('ab')],
    ['latin1 characters are single bytes', 'é', Buffer.from([0xe9])],
  ];
  it.each(cases)('%s', (_name, input, expected) => {
    expect(decodeCString(input)).toEqual(expected);
  });

  const bad: [string, string][] = [
    ['a trailing lone backslash', 'abc\\'],
    ['\\x without digits', 'a\\x'],
    ['\\x with one digit', 'a\\x4'],
    ['\\x with non-hex digits', 'a\\xzz'],
    ['data that decodes to nothing', '\\q'],
  ];
  it.each(bad)('rejects %s', (_name, input) => {
    expect(() => decodeCString(input)).toThrow(GripInstructError);
    expect(() => decodeCString(input)).toThrow(/failed to parse Grip-Keep-Alive cstring format/);
    expect(() => decodeCString(input)).toThrow(
      expect.objectContaining({ source: 'Grip-Keep-Alive' }),
    );
  });
});

describe('encodeCString', () => {
  const cases: [string, Buffer, string][] = [
    ['newline', Buffer.from('\n'), '\\n'],
    ['SSE comment', Buffer.from(':\n\n'), ':\\n\\n'],
    ['TAB as \\x09, which Pushpin understands', Buffer.from('\t'), '\\x09'],
    ['; which would split parameters', Buffer.from('a;b'), 'a\\x3bb'],
    ['edge spaces, which would be trimmed', Buffer.from(' a b '), '\\x20a b\\x20'],
    ['control and non-ASCII bytes', Buffer.from([0x00, 0x7f, 0xe9]), '\\x00\\x7f\\xe9'],
    ['backslash and CR', Buffer.from('\\\r'), '\\\\\\r'],
  ];
  it.each(cases)('%s', (_name, input, expected) => {
    expect(encodeCString(input)).toBe(expected);
  });

  it('round trips every byte value through decodeCString', () => {
    const all = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
    expect(decodeCString(encodeCString(all))).toEqual(all);
  });

  it('round trips through a Grip-Keep-Alive header', () => {
    const data = Buffer.from(' x;y\t\n ');
    const ka = parseGripKeepAlive(`${encodeCString(data)}; format=cstring`);
    expect(ka?.data).toEqual(data);
  });
});

describe('parseGripKeepAlive', () => {
  const cases: [string, string, ReturnType<typeof parseGripKeepAlive>][] = [
    ['raw data with defaults', 'ka', { data: Buffer.from('ka'), timeout: 55, mode: 'idle' }],
    [
      'cstring with timeout',
      '\\n; format=cstring; timeout=20',
      { data: Buffer.from('\n'), timeout: 20, mode: 'idle' },
    ],
    [
      'base64 with interval mode',
      'OgoK; format=base64; mode=interval',
      { data: Buffer.from(':\n\n'), timeout: 55, mode: 'interval' },
    ],
    [
      'explicit raw format and idle mode',
      'x; format=raw; mode=idle',
      { data: Buffer.from('x'), timeout: 55, mode: 'idle' },
    ],
    [
      'commas are data, not separators',
      'a,b',
      { data: Buffer.from('a,b'), timeout: 55, mode: 'idle' },
    ],
    ['timeout 0 becomes 1', 'x; timeout=0', { data: Buffer.from('x'), timeout: 1, mode: 'idle' }],
    [
      'a timeout past what a Node timer holds is clamped to 2147483 s',
      'x; timeout=2147484',
      { data: Buffer.from('x'), timeout: 2147483, mode: 'idle' },
    ],
    ['empty value means no keep-alive', '', undefined],
    ['whitespace-only value means no keep-alive', '   ', undefined],
    ['an unterminated quote is ignored like Pushpin', 'x; format="raw', undefined],
  ];
  it.each(cases)('%s', (_name, input, expected) => {
    expect(parseGripKeepAlive(input)).toEqual(expected);
  });

  const bad: [string, string, string][] = [
    ['empty data with parameters', '; format=cstring', 'Grip-Keep-Alive cannot be empty'],
    ['unknown format', 'x; format=hex', "no such Grip-Keep-Alive format 'hex'"],
    ['unknown mode', 'x; mode=sometimes', "no such Grip-Keep-Alive mode 'sometimes'"],
    ['non-numeric timeout', 'x; timeout=soon', 'failed to parse Grip-Keep-Alive timeout value'],
    ['timeout without value', 'x; timeout', 'failed to parse Grip-Keep-Alive timeout value'],
    ['negative timeout', 'x; timeout=-2', 'Grip-Keep-Alive timeout has invalid value'],
    ['bad cstring', 'x\\; format=cstring', 'failed to parse Grip-Keep-Alive cstring format'],
  ];
  it.each(bad)('rejects %s', (_name, input, message) => {
    expect(() => parseGripKeepAlive(input)).toThrow(GripInstructError);
    expect(() => parseGripKeepAlive(input)).toThrow(message);
    expect(() => parseGripKeepAlive(input)).toThrow(
      expect.objectContaining({ source: 'Grip-Keep-Alive' }),
    );
  });

  const fromJsGrip: [string, string | Uint8Array, Buffer][] = [
    ['a newline string', '\n', Buffer.from('\n')],
    ['an SSE comment string', ':\n\n', Buffer.from(':\n\n')],
    ['a string with a tab', 'a\tb', Buffer.from('a\tb')],
    ['a string with a control character (base64)', 'a\x01b', Buffer.from('a\x01b')],
    ['bytes (base64)', new Uint8Array([0, 1, 255]), Buffer.from([0, 1, 255])],
  ];
  it.each(fromJsGrip)('reads what js-grip writes for %s', (_name, data, expected) => {
    const ka = parseGripKeepAlive(createKeepAliveHeader(data, 20));
    expect(ka).toEqual({ data: expected, timeout: 20, mode: 'idle' });
  });
});
