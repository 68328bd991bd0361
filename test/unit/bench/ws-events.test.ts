import { describe, expect, it } from 'vitest';
import {
  decodeBenchWsEvents,
  encodeBenchWsEvents,
  type BenchWsEvent,
} from '../../../bench/ws-events.js';

// Expected bytes are written out by hand from protocol 4.2, not produced by another codec.
const bytes = (text: string): Buffer => Buffer.from(text, 'latin1');

describe('bench WebSocket-events encoder', () => {
  const cases: [string, BenchWsEvent[], string][] = [
    ['OPEN without content', [{ type: 'OPEN' }], 'OPEN\r\n'],
    [
      'TEXT with a lower-case hex length',
      [{ type: 'TEXT', content: bytes('x'.repeat(27)) }],
      `TEXT 1b\r\n${'x'.repeat(27)}\r\n`,
    ],
    ['an empty TEXT message', [{ type: 'TEXT', content: bytes('') }], 'TEXT 0\r\n\r\n'],
    [
      'CLOSE with code 1000',
      [{ type: 'CLOSE', content: bytes('\x03\xe8') }],
      'CLOSE 2\r\n\x03\xe8\r\n',
    ],
    ['CLOSE without status', [{ type: 'CLOSE' }], 'CLOSE\r\n'],
    [
      'the OPEN answer with a subscribe control message',
      [{ type: 'OPEN' }, { type: 'TEXT', content: bytes('c:{"type":"subscribe","channel":"a"}') }],
      'OPEN\r\nTEXT 24\r\nc:{"type":"subscribe","channel":"a"}\r\n',
    ],
    ['no events', [], ''],
  ];
  it.each(cases)('writes %s', (_name, events, expected) => {
    expect(encodeBenchWsEvents(events).toString('latin1')).toBe(expected);
  });
});

describe('bench WebSocket-events decoder', () => {
  const cases: [string, string, BenchWsEvent<string>[]][] = [
    ['OPEN as the proxy sends it', 'OPEN\r\n', [{ type: 'OPEN' }]],
    [
      'TEXT then CLOSE 4000 "bye"',
      'TEXT 2\r\nhi\r\nCLOSE 5\r\n\x0f\xa0bye\r\n',
      [
        { type: 'TEXT', content: bytes('hi') },
        { type: 'CLOSE', content: bytes('\x0f\xa0bye') },
      ],
    ],
    [
      'an upper-case hex length',
      `TEXT 1B\r\n${'y'.repeat(27)}\r\n`,
      [{ type: 'TEXT', content: bytes('y'.repeat(27)) }],
    ],
    ['content holding CRLF', 'TEXT 4\r\na\r\nb\r\n', [{ type: 'TEXT', content: bytes('a\r\nb') }]],
    [
      'a content-less event written with length 0',
      'OPEN 0\r\n\r\n',
      [{ type: 'OPEN', content: bytes('') }],
    ],
    [
      'types it does not act on, kept for the caller to skip',
      'DISCONNECT\r\nPING 1\r\np\r\n',
      [{ type: 'DISCONNECT' }, { type: 'PING', content: bytes('p') }],
    ],
    ['an empty body', '', []],
  ];
  it.each(cases)('reads %s', (_name, body, expected) => {
    expect(decodeBenchWsEvents(bytes(body))).toEqual(expected);
  });

  const malformed: [string, string, RegExp][] = [
    ['a line without CRLF', 'OPEN', /no CRLF/],
    ['a length that is not hex', 'TEXT zz\r\nhi\r\n', /bad length 'zz'/],
    ['an empty length', 'TEXT \r\nhi\r\n', /bad length ''/],
    ['content shorter than its length', 'TEXT 5\r\nhi\r\n', /not followed by CRLF/],
    ['content longer than its length', 'TEXT 1\r\nhi\r\n', /not followed by CRLF/],
  ];
  it.each(malformed)('refuses %s', (_name, body, message) => {
    expect(() => decodeBenchWsEvents(bytes(body))).toThrow(message);
  });
});
