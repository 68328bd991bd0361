import { decodeWebSocketEvents, encodeWebSocketEvents, WebSocketEvent } from '@fanoutio/grip';
import { describe, expect, it } from 'vitest';
import { WsEventsError } from '../../../src/errors.js';
import {
  decodeCloseContent,
  decodeWsEvents,
  encodeCloseContent,
  encodeWsEvents,
  type WsEvent,
} from '../../../src/grip/ws-events.js';

const bin = (s: string) => Buffer.from(s, 'latin1');

describe('encodeWsEvents', () => {
  const cases: [string, WsEvent[], string][] = [
    ['no events', [], ''],
    ['OPEN', [{ type: 'OPEN' }], 'OPEN\r\n'],
    [
      'TEXT with lower-case hex length',
      [{ type: 'TEXT', content: Buffer.alloc(27, 'a') }],
      `TEXT 1b\r\n${'a'.repeat(27)}\r\n`,
    ],
    [
      'empty TEXT keeps its content part',
      [{ type: 'TEXT', content: Buffer.alloc(0) }],
      'TEXT 0\r\n\r\n',
    ],
    [
      'empty BINARY keeps its content part',
      [{ type: 'BINARY', content: Buffer.alloc(0) }],
      'BINARY 0\r\n\r\n',
    ],
    ['empty PING omits the content part', [{ type: 'PING', content: Buffer.alloc(0) }], 'PING\r\n'],
    ['PONG with payload', [{ type: 'PONG', content: bin('p') }], 'PONG 1\r\np\r\n'],
    [
      'CLOSE with code 1000',
      [{ type: 'CLOSE', content: bin('\x03\xe8') }],
      'CLOSE 2\r\n\x03\xe8\r\n',
    ],
    ['CLOSE without status', [{ type: 'CLOSE' }], 'CLOSE\r\n'],
    [
      'several events, binary-safe content with CRLF',
      [{ type: 'OPEN' }, { type: 'BINARY', content: bin('a\r\nb\x00') }, { type: 'DISCONNECT' }],
      'OPEN\r\nBINARY 5\r\na\r\nb\x00\r\nDISCONNECT\r\n',
    ],
  ];
  it.each(cases)('%s', (_name, events, expected) => {
    expect(encodeWsEvents(events).toString('latin1')).toBe(expected);
  });
});

describe('decodeWsEvents', () => {
  const cases: [string, string, WsEvent[]][] = [
    ['an empty body', '', []],
    ['OPEN', 'OPEN\r\n', [{ type: 'OPEN' }]],
    ['TEXT', 'TEXT 2\r\nhi\r\n', [{ type: 'TEXT', content: bin('hi') }]],
    [
      'upper-case hex length',
      `TEXT 1B\r\n${'x'.repeat(27)}\r\n`,
      [{ type: 'TEXT', content: bin('x'.repeat(27)) }],
    ],
    ['OPEN written with a zero length', 'OPEN 0\r\n\r\n', [{ type: 'OPEN', content: bin('') }]],
    [
      'CLOSE 4000 "bye" from a real exchange',
      'CLOSE 5\r\n\x0f\xa0bye\r\n',
      [{ type: 'CLOSE', content: bin('\x0f\xa0bye') }],
    ],
    [
      'content containing CRLF',
      'BINARY 4\r\n\r\n\r\n\r\n',
      [{ type: 'BINARY', content: bin('\r\n\r\n') }],
    ],
    [
      'unknown event types are skipped',
      'OPEN\r\nFOO 3\r\nabc\r\nBAR\r\nTEXT 1\r\nx\r\n',
      [{ type: 'OPEN' }, { type: 'TEXT', content: bin('x') }],
    ],
    [
      'every event type',
      'OPEN\r\nTEXT 1\r\nt\r\nBINARY 1\r\nb\r\nPING\r\nPONG\r\nCLOSE\r\nDISCONNECT\r\n',
      [
        { type: 'OPEN' },
        { type: 'TEXT', content: bin('t') },
        { type: 'BINARY', content: bin('b') },
        { type: 'PING' },
        { type: 'PONG' },
        { type: 'CLOSE' },
        { type: 'DISCONNECT' },
      ],
    ],
  ];
  it.each(cases)('%s', (_name, body, expected) => {
    expect(decodeWsEvents(bin(body))).toEqual(expected);
  });

  const bad: [string, string, string][] = [
    ['a line without CRLF', 'OPEN', 'has no CRLF'],
    ['a line ending in a bare LF', 'OPEN\n', 'has no CRLF'],
    ['a non-hex length', 'TEXT zz\r\nhi\r\n', "bad length 'zz'"],
    ['an empty length', 'TEXT \r\nhi\r\n', "bad length ''"],
    ['a negative length', 'TEXT -2\r\nhi\r\n', "bad length '-2'"],
    ['an absurdly long length', 'TEXT 123456789\r\nhi\r\n', "bad length '123456789'"],
    ['content shorter than its length', 'TEXT 5\r\nhi\r\n', 'is truncated'],
    ['content without its trailing CRLF', 'TEXT 2\r\nhi', 'is truncated'],
    [
      'content followed by something other than CRLF',
      'TEXT 2\r\nhiXY',
      'no CRLF after its content',
    ],
    ['a valid event followed by a truncated one', 'OPEN\r\nTEXT 2\r\nh', 'is truncated'],
  ];
  it.each(bad)('rejects %s', (_name, body, message) => {
    expect(() => decodeWsEvents(bin(body))).toThrow(WsEventsError);
    expect(() => decodeWsEvents(bin(body))).toThrow(message);
  });

  it('returns content as views into the body', () => {
    const body = bin('TEXT 2\r\nhi\r\n');
    const [event] = decodeWsEvents(body);
    expect(event.content?.buffer).toBe(body.buffer);
  });
});

describe('round trips with @fanoutio/grip', () => {
  const events: WsEvent[] = [
    { type: 'OPEN' },
    { type: 'TEXT', content: Buffer.from('héllo ✓', 'utf8') },
    { type: 'BINARY', content: Buffer.from([0, 13, 10, 255]) },
    { type: 'PING', content: bin('p') },
    { type: 'PONG' },
    { type: 'CLOSE', content: encodeCloseContent(4000, 'bye') },
    { type: 'DISCONNECT' },
  ];

  it('js-grip decodes what we encode', () => {
    const decoded = decodeWebSocketEvents(new Uint8Array(encodeWsEvents(events)));
    expect(
      decoded.map((e) => ({
        type: e.getType(),
        content: e.getContent() == null ? undefined : Buffer.from(e.getContent() as Uint8Array),
      })),
    ).toEqual(events);
  });

  it('we decode what js-grip encodes', () => {
    const encoded = encodeWebSocketEvents(
      events.map((e) => new WebSocketEvent(e.type, e.content ? new Uint8Array(e.content) : null)),
    );
    expect(decodeWsEvents(Buffer.from(encoded))).toEqual(events);
  });

  it('we decode js-grip string content as UTF-8 bytes', () => {
    const encoded = encodeWebSocketEvents([new WebSocketEvent('TEXT', 'ünï')]);
    expect(decodeWsEvents(Buffer.from(encoded))).toEqual([
      { type: 'TEXT', content: Buffer.from('ünï', 'utf8') },
    ]);
  });

  it('our encoding decodes back to the same events', () => {
    expect(decodeWsEvents(encodeWsEvents(events))).toEqual(events);
  });
});

describe('CLOSE content', () => {
  it('encodes a code and UTF-8 reason', () => {
    expect(encodeCloseContent(4000, 'bye')).toEqual(bin('\x0f\xa0bye'));
    expect(encodeCloseContent(1000)).toEqual(bin('\x03\xe8'));
    expect(encodeCloseContent(undefined)).toBeUndefined();
  });

  const cases: [string, Buffer | undefined, ReturnType<typeof decodeCloseContent>][] = [
    ['no content', undefined, { reason: '' }],
    ['empty content', Buffer.alloc(0), { reason: '' }],
    ['code only', bin('\x03\xe8'), { code: 1000, reason: '' }],
    [
      'code and UTF-8 reason',
      Buffer.concat([bin('\x0f\xa0'), Buffer.from('ciao ✓')]),
      { code: 4000, reason: 'ciao ✓' },
    ],
  ];
  it.each(cases)('decodes %s', (_name, content, expected) => {
    expect(decodeCloseContent(content)).toEqual(expected);
  });

  it('rejects a one-byte close content', () => {
    expect(() => decodeCloseContent(bin('\x03'))).toThrow(WsEventsError);
  });
});
