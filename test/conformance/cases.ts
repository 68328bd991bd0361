import type { CaseGroup, ConformanceCase, ExpectedEnd, ExpectedEvent } from './case.js';
import { closePayload, opcodes, type FrameSpec } from './frame.js';

/*
 * The conformance cases as data, grouped and numbered like the Autobahn suite's (1 framing,
 * 2 ping/pong, 3 reserved bits, 4 opcodes, 5 fragmentation, 6 UTF-8, 7 close, 9 limits),
 * plus group 11: what the backend sees of the session's end. Every case runs on both routes.
 */

type Bytes = Buffer | string;
const bytes = (b: Bytes): Buffer => (typeof b === 'string' ? Buffer.from(b) : b);

const text = (payload: Bytes, more: Partial<FrameSpec> = {}): FrameSpec => ({
  opcode: opcodes.text,
  payload,
  ...more,
});
const binary = (payload: Bytes, more: Partial<FrameSpec> = {}): FrameSpec => ({
  opcode: opcodes.binary,
  payload,
  ...more,
});
const cont = (payload: Bytes, fin: boolean, more: Partial<FrameSpec> = {}): FrameSpec => ({
  opcode: opcodes.continuation,
  payload,
  fin,
  ...more,
});
const ping = (payload: Bytes = '', more: Partial<FrameSpec> = {}): FrameSpec => ({
  opcode: opcodes.ping,
  payload,
  ...more,
});
const pong = (payload: Bytes = '', more: Partial<FrameSpec> = {}): FrameSpec => ({
  opcode: opcodes.pong,
  payload,
  ...more,
});
const close = (code?: number, reason: Bytes = ''): FrameSpec => ({
  opcode: opcodes.close,
  payload: code === undefined ? '' : closePayload(code, bytes(reason)),
});

const echoText = (payload: Bytes): ExpectedEvent => ({ kind: 'text', payload: bytes(payload) });
const echoBinary = (payload: Bytes): ExpectedEvent => ({ kind: 'binary', payload: bytes(payload) });
const pongOf = (payload: Bytes = ''): ExpectedEvent => ({ kind: 'pong', payload: bytes(payload) });

const OPEN: ExpectedEnd = { kind: 'open' };
const fail = (code: number): ExpectedEnd => ({ kind: 'close', codes: [code] });
const PROTOCOL_ERROR = fail(1002);
const INVALID_DATA = fail(1007);

/** `count` bytes of printable ASCII. */
const ascii = (count: number): string => '*'.repeat(count);
/** `count` bytes of every value. */
const allBytes = (count: number): Buffer =>
  Buffer.from(Array.from({ length: count }, (_, i) => i % 256));

function framing(): ConformanceCase[] {
  const sizes = [0, 125, 126, 127, 128, 65535, 65536];
  const cases: ConformanceCase[] = [];
  sizes.forEach((size, i) => {
    cases.push({
      id: `1.1.${i + 1}`,
      title: `text message, ${size} bytes`,
      rfc: '5.6: a text frame of any length (7-bit, 16-bit or 64-bit length) is one message',
      steps: [text(ascii(size))],
      events: [echoText(ascii(size))],
      end: OPEN,
    });
    cases.push({
      id: `1.2.${i + 1}`,
      title: `binary message, ${size} bytes`,
      rfc: '5.6: a binary frame of any length is one message',
      steps: [binary(allBytes(size))],
      events: [echoBinary(allBytes(size))],
      end: OPEN,
    });
  });
  cases.push(
    {
      id: '1.1.8',
      title: 'text message, 65536 bytes, written in chops of 997 bytes',
      rfc: '5.2: frame boundaries are independent of TCP segments',
      steps: [{ chop: text(ascii(65536)), size: 997 }],
      events: [echoText(ascii(65536))],
      end: OPEN,
    },
    {
      id: '1.2.8',
      title: 'binary message, 65536 bytes, written in chops of 997 bytes',
      rfc: '5.2: frame boundaries are independent of TCP segments',
      steps: [{ chop: binary(allBytes(65536)), size: 997 }],
      events: [echoBinary(allBytes(65536))],
      end: OPEN,
    },
    {
      id: '1.3.1',
      title: 'text frame written one byte at a time',
      rfc: '5.2: frame boundaries are independent of TCP segments',
      steps: [{ chop: text('Hello, world!'), size: 1 }],
      events: [echoText('Hello, world!')],
      end: OPEN,
    },
    {
      id: '1.3.2',
      title: 'three messages in one TCP write',
      rfc: '5.2: frames follow each other on the stream; each message is echoed in order',
      steps: [text('one'), binary('two'), text('three')],
      events: [echoText('one'), echoBinary('two'), echoText('three')],
      end: OPEN,
    },
    {
      id: '1.4.1',
      title: 'unmasked text frame',
      rfc: '5.1: a server MUST close the connection on an unmasked client frame (1002)',
      steps: [text('unmasked', { isMasked: false })],
      events: [],
      end: PROTOCOL_ERROR,
    },
    {
      id: '1.4.2',
      title: 'unmasked ping after a masked message',
      rfc: '5.1: a server MUST close the connection on an unmasked client frame (1002)',
      steps: [text('masked'), { awaitEvents: 1 }, ping('unmasked', { isMasked: false })],
      events: [echoText('masked')],
      end: PROTOCOL_ERROR,
    },
    {
      id: '1.4.3',
      title: 'unmasked close frame',
      rfc: '5.1: a server MUST close the connection on an unmasked client frame (1002)',
      steps: [{ ...close(1000), isMasked: false }],
      events: [],
      end: PROTOCOL_ERROR,
    },
  );
  return cases;
}

function pingPong(): ConformanceCase[] {
  return [
    {
      id: '2.1',
      title: 'ping without payload',
      rfc: '5.5.2-5.5.3: a ping is answered with a pong carrying the same payload',
      steps: [ping()],
      events: [pongOf()],
      end: OPEN,
    },
    {
      id: '2.2',
      title: 'ping with a text payload',
      rfc: '5.5.3: the pong carries the ping\'s "Application data"',
      steps: [ping('Hello, world!')],
      events: [pongOf('Hello, world!')],
      end: OPEN,
    },
    {
      id: '2.3',
      title: 'ping with a binary payload',
      rfc: '5.5.3: the pong carries the ping\'s "Application data"',
      steps: [ping(Buffer.from([0x00, 0xff, 0xfe, 0xfd, 0xfc, 0xfb, 0x00, 0xff]))],
      events: [pongOf(Buffer.from([0x00, 0xff, 0xfe, 0xfd, 0xfc, 0xfb, 0x00, 0xff]))],
      end: OPEN,
    },
    {
      id: '2.4',
      title: 'ping with a 125-byte payload',
      rfc: '5.5: a control frame payload may be 125 bytes; the pong echoes it',
      steps: [ping(allBytes(125))],
      events: [pongOf(allBytes(125))],
      end: OPEN,
    },
    {
      id: '2.5',
      title: 'ping with a 126-byte payload',
      rfc: '5.5: control frames MUST have a payload of 125 bytes or less (1002)',
      steps: [ping(allBytes(126))],
      events: [],
      end: PROTOCOL_ERROR,
    },
    {
      id: '2.6',
      title: 'ping with a 125-byte payload written one byte at a time',
      rfc: '5.5.3: the pong echoes the payload, however the frame arrived',
      steps: [{ chop: ping(allBytes(125)), size: 1 }],
      events: [pongOf(allBytes(125))],
      end: OPEN,
    },
    {
      id: '2.7',
      title: 'unsolicited pong without payload',
      rfc: '5.5.3: an unsolicited pong needs no answer',
      steps: [pong()],
      events: [],
      end: OPEN,
    },
    {
      id: '2.8',
      title: 'unsolicited pong with payload',
      rfc: '5.5.3: an unsolicited pong needs no answer',
      steps: [pong('unsolicited')],
      events: [],
      end: OPEN,
    },
    {
      id: '2.9',
      title: 'unsolicited pong, then a ping',
      rfc: '5.5.3: only the ping is answered',
      steps: [pong('unsolicited'), ping('solicited')],
      events: [pongOf('solicited')],
      end: OPEN,
    },
    {
      id: '2.10',
      title: '10 pings in a row',
      rfc: '5.5.3: every ping is answered, in order',
      steps: Array.from({ length: 10 }, (_, i) => ping(`ping ${i}`)),
      events: Array.from({ length: 10 }, (_, i) => pongOf(`ping ${i}`)),
      end: OPEN,
    },
  ];
}

function reservedBits(): ConformanceCase[] {
  return [
    {
      id: '3.1',
      title: 'text frame with RSV1 (no extension negotiated)',
      rfc: '5.2: a nonzero RSV bit without a negotiated extension MUST fail the connection (1002)',
      steps: [text('rsv1', { rsv: 4 })],
      events: [],
      end: PROTOCOL_ERROR,
    },
    {
      id: '3.2',
      title: 'text message, then a text frame with RSV2',
      rfc: '5.2: the first message is echoed, the RSV2 frame fails the connection (1002)',
      steps: [text('first'), { awaitEvents: 1 }, text('rsv2', { rsv: 2 })],
      events: [echoText('first')],
      end: PROTOCOL_ERROR,
    },
    {
      id: '3.3',
      title: 'text frame with RSV3, then a ping',
      rfc: '5.2: the RSV3 frame fails the connection (1002); the ping gets no pong',
      steps: [text('rsv3', { rsv: 1 }), ping('after')],
      events: [],
      end: PROTOCOL_ERROR,
    },
    {
      id: '3.4',
      title: 'binary frame with RSV1 and RSV3',
      rfc: '5.2: a nonzero RSV bit without a negotiated extension MUST fail the connection (1002)',
      steps: [binary(allBytes(10), { rsv: 5 })],
      events: [],
      end: PROTOCOL_ERROR,
    },
    {
      id: '3.5',
      title: 'ping with RSV1 and RSV2',
      rfc: '5.2: RSV bits on a control frame fail the connection (1002)',
      steps: [ping('rsv', { rsv: 6 })],
      events: [],
      end: PROTOCOL_ERROR,
    },
    {
      id: '3.6',
      title: 'close frame with all RSV bits',
      rfc: '5.2: RSV bits on a close frame fail the connection (1002)',
      steps: [{ ...close(1000), rsv: 7 }],
      events: [],
      end: PROTOCOL_ERROR,
    },
    {
      id: '3.7',
      title: 'continuation frame with RSV1',
      rfc: '5.2: RSV bits on any frame of a message fail the connection (1002)',
      steps: [text('frag', { fin: false }), cont('ment', true, { rsv: 4 })],
      events: [],
      end: PROTOCOL_ERROR,
    },
  ];
}

function reservedOpcodes(): ConformanceCase[] {
  const cases: ConformanceCase[] = [];
  [3, 4, 5, 6, 7].forEach((opcode, i) => {
    cases.push({
      id: `4.1.${i + 1}`,
      title: `reserved non-control opcode ${opcode}, after a message`,
      rfc: '5.2: an unknown opcode MUST fail the connection (1002); the message before it is echoed',
      steps: [text('first'), { awaitEvents: 1 }, { opcode, payload: 'reserved' }, ping('after')],
      events: [echoText('first')],
      end: PROTOCOL_ERROR,
    });
  });
  [11, 12, 13, 14, 15].forEach((opcode, i) => {
    cases.push({
      id: `4.2.${i + 1}`,
      title: `reserved control opcode ${opcode}, after a message`,
      rfc: '5.2: an unknown opcode MUST fail the connection (1002); the message before it is echoed',
      steps: [text('first'), { awaitEvents: 1 }, { opcode, payload: 'reserved' }, ping('after')],
      events: [echoText('first')],
      end: PROTOCOL_ERROR,
    });
  });
  return cases;
}

function fragmentation(): ConformanceCase[] {
  return [
    {
      id: '5.1',
      title: 'ping fragmented into 2 frames',
      rfc: '5.5: control frames MUST NOT be fragmented (1002)',
      steps: [ping('frag', { fin: false }), cont('ment', true)],
      events: [],
      end: PROTOCOL_ERROR,
    },
    {
      id: '5.2',
      title: 'pong fragmented into 2 frames',
      rfc: '5.5: control frames MUST NOT be fragmented (1002)',
      steps: [pong('frag', { fin: false }), cont('ment', true)],
      events: [],
      end: PROTOCOL_ERROR,
    },
    {
      id: '5.3',
      title: 'text message in 2 fragments',
      rfc: '5.4: the fragments make one message',
      steps: [text('frag', { fin: false }), cont('ment', true)],
      events: [echoText('fragment')],
      end: OPEN,
    },
    {
      id: '5.4',
      title: 'text message in 2 fragments, written 200 ms apart',
      rfc: '5.4: the fragments make one message, however they are timed',
      steps: [text('frag', { fin: false }), { pauseMs: 200 }, cont('ment', true)],
      events: [echoText('fragment')],
      end: OPEN,
    },
    {
      id: '5.5',
      title: 'text message in 2 fragments with a ping between them',
      rfc: '5.4: control frames MAY be injected in the middle of a fragmented message',
      steps: [text('frag', { fin: false }), ping('between'), cont('ment', true)],
      events: [pongOf('between'), echoText('fragment')],
      end: OPEN,
    },
    {
      id: '5.6',
      title: 'text message in 2 fragments, ping between, each frame its own write',
      rfc: '5.4: control frames MAY be injected; the pong is not held back by the message',
      steps: [
        text('frag', { fin: false }),
        { pauseMs: 50 },
        ping('between'),
        { awaitEvents: 1 },
        cont('ment', true),
      ],
      events: [pongOf('between'), echoText('fragment')],
      end: OPEN,
    },
    {
      id: '5.7',
      title: 'text message in 2 fragments with a pong between them',
      rfc: '5.4: control frames MAY be injected in the middle of a fragmented message',
      steps: [text('frag', { fin: false }), pong('between'), cont('ment', true)],
      events: [echoText('fragment')],
      end: OPEN,
    },
    {
      id: '5.8',
      title: 'binary message in 3 fragments, the middle one empty',
      rfc: '5.4: a message may have fragments of any size, including 0',
      steps: [binary(allBytes(3), { fin: false }), cont('', false), cont(allBytes(2), true)],
      events: [echoBinary(Buffer.from([0, 1, 2, 0, 1]))],
      end: OPEN,
    },
    {
      id: '5.9',
      title: 'continuation with FIN, nothing to continue',
      rfc: '5.4: a continuation frame without a started message fails the connection (1002)',
      steps: [cont('orphan', true), text('after')],
      events: [],
      end: PROTOCOL_ERROR,
    },
    {
      id: '5.10',
      title: 'continuation without FIN, nothing to continue',
      rfc: '5.4: a continuation frame without a started message fails the connection (1002)',
      steps: [cont('orphan', false), text('after')],
      events: [],
      end: PROTOCOL_ERROR,
    },
    {
      id: '5.11',
      title: 'a new text message while a fragmented one is open',
      rfc: '5.4: fragments of different messages MUST NOT be interleaved (1002)',
      steps: [text('frag', { fin: false }), text('interleaved'), cont('ment', true)],
      events: [],
      end: PROTOCOL_ERROR,
    },
    {
      id: '5.12',
      title: 'a binary frame while a fragmented text message is open',
      rfc: '5.4: fragments of different messages MUST NOT be interleaved (1002)',
      steps: [text('frag', { fin: false }), binary('interleaved', { fin: false })],
      events: [],
      end: PROTOCOL_ERROR,
    },
    {
      id: '5.13',
      title: 'text message in 100 fragments of 1 byte',
      rfc: '5.4: the fragments make one message',
      steps: [
        text('a', { fin: false }),
        ...Array.from({ length: 98 }, () => cont('a', false)),
        cont('a', true),
      ],
      events: [echoText('a'.repeat(100))],
      end: OPEN,
    },
    {
      id: '5.14',
      title: 'two fragmented messages in a row',
      rfc: '5.4: a message ends at FIN; the next one starts fresh',
      steps: [
        text('one-', { fin: false }),
        cont('done', true),
        binary('two-', { fin: false }),
        cont('done', true),
      ],
      events: [echoText('one-done'), echoBinary('two-done')],
      end: OPEN,
    },
  ];
}

/** Invalid sequences of Markus Kuhn's UTF-8 stress test, as Autobahn uses them. */
const invalidUtf8: [string, Buffer][] = [
  ['a lone 0xff byte', Buffer.from([0xff])],
  ['an overlong "/" (C0 AF)', Buffer.from([0xc0, 0xaf])],
  ['a UTF-16 surrogate (ED A0 80)', Buffer.from([0xed, 0xa0, 0x80])],
  ['a code point past U+10FFFF (F4 90 80 80)', Buffer.from([0xf4, 0x90, 0x80, 0x80])],
  ['a lone continuation byte (80)', Buffer.from([0x80])],
  ['a sequence cut short at the end (CE)', Buffer.from('κόσμε').subarray(0, 9)],
];

function utf8(): ConformanceCase[] {
  const kosme = Buffer.from('κόσμε');
  const emoji = Buffer.from('a😀b'); // 61 F0 9F 98 80 62
  const cases: ConformanceCase[] = [
    {
      id: '6.1.1',
      title: 'valid UTF-8 text (κόσμε) in one frame',
      rfc: '8.1: valid UTF-8 text is delivered',
      steps: [text(kosme)],
      events: [echoText(kosme)],
      end: OPEN,
    },
    {
      id: '6.1.2',
      title: 'valid UTF-8 text fragmented at code point boundaries',
      rfc: '5.6, 8.1: validity is of the whole message',
      steps: [text(kosme.subarray(0, 3), { fin: false }), cont(kosme.subarray(3), true)],
      events: [echoText(kosme)],
      end: OPEN,
    },
    {
      id: '6.1.3',
      title: 'valid UTF-8 text fragmented inside a code point (one byte per fragment)',
      rfc: '5.6: "the text ... may be split ... in the middle of a code point"; the message is valid',
      steps: [
        text(kosme.subarray(0, 1), { fin: false }),
        ...Array.from(kosme.subarray(1, kosme.length - 1), (b) => cont(Buffer.from([b]), false)),
        cont(kosme.subarray(kosme.length - 1), true),
      ],
      events: [echoText(kosme)],
      end: OPEN,
    },
    {
      id: '6.1.4',
      title: 'a 4-byte code point split across 4 fragments',
      rfc: '5.6: a fragment may end inside a code point; the message is valid',
      steps: [
        text(emoji.subarray(0, 2), { fin: false }),
        cont(emoji.subarray(2, 3), false),
        cont(emoji.subarray(3, 4), false),
        cont(emoji.subarray(4), true),
      ],
      events: [echoText(emoji)],
      end: OPEN,
    },
    {
      id: '6.1.5',
      title: 'noncharacters U+FFFE and U+FFFF, and NUL',
      rfc: '8.1: these are valid UTF-8 and are delivered',
      steps: [text(Buffer.from('\u0000\ufffe\uffff'))],
      events: [echoText(Buffer.from('\u0000\ufffe\uffff'))],
      end: OPEN,
    },
    {
      id: '6.1.6',
      title: 'invalid UTF-8 in a binary message',
      rfc: '5.6: binary data is not interpreted; it is delivered',
      steps: [binary(Buffer.from([0xff, 0xc0, 0xaf, 0xed, 0xa0, 0x80]))],
      events: [echoBinary(Buffer.from([0xff, 0xc0, 0xaf, 0xed, 0xa0, 0x80]))],
      end: OPEN,
    },
  ];
  invalidUtf8.forEach(([what, invalid], i) => {
    cases.push({
      id: `6.2.${i + 1}`,
      title: `text message with ${what}`,
      rfc: '8.1: invalid UTF-8 in a text message MUST fail the connection (1007)',
      steps: [text(Buffer.concat([Buffer.from('ok '), invalid]))],
      events: [],
      end: INVALID_DATA,
    });
  });
  cases.push(
    {
      id: '6.3.1',
      title: 'fragmented text: a code point left incomplete at the fragment end, next one ASCII',
      rfc: '8.1: the message is invalid UTF-8 (1007)',
      steps: [text(Buffer.from([0x61, 0xce]), { fin: false }), cont('b', true)],
      events: [],
      end: INVALID_DATA,
    },
    {
      id: '6.3.2',
      title: 'fragmented text: invalid bytes in the first fragment, message completed',
      rfc: '8.1: the message is invalid UTF-8 (1007)',
      steps: [text(Buffer.from([0x61, 0xff]), { fin: false }), cont('b', true)],
      events: [],
      end: INVALID_DATA,
    },
    {
      id: '6.3.3',
      title: 'fragmented text: invalid bytes in the first fragment, message left open',
      rfc: '8.1: invalid UTF-8 fails the connection (1007) once seen, not at the message end ("fail fast", Autobahn 6.4)',
      steps: [text(Buffer.from([0x61, 0xff]), { fin: false })],
      events: [],
      end: INVALID_DATA,
    },
    {
      id: '6.4.1',
      title: 'backend sends a text message that is not UTF-8',
      rfc: '8.1: a text message the client gets is UTF-8; a backend breaking that ends the session (1014)',
      steps: [text('cmd:badtext')],
      events: [],
      end: { kind: 'close', codes: [1014] },
      backend: { messages: [echoText('cmd:badtext')] },
    },
  );
  return cases;
}

function closing(): ConformanceCase[] {
  const cases: ConformanceCase[] = [
    {
      id: '7.1.1',
      title: 'close 1000',
      rfc: '5.5.1: a close frame is answered with a close frame (typically the same code), then TCP closes',
      steps: [close(1000)],
      events: [],
      end: { kind: 'close', codes: [1000] },
      backend: { end: 1000 },
    },
    {
      id: '7.1.2',
      title: 'close twice',
      rfc: '5.5.1: one close answer; nothing after it',
      steps: [close(1000), close(1000)],
      events: [],
      end: { kind: 'close', codes: [1000] },
    },
    {
      id: '7.1.3',
      title: 'ping after close',
      rfc: '5.5.1: frames after a close frame are not processed (no pong)',
      steps: [close(1000), ping('after close')],
      events: [],
      end: { kind: 'close', codes: [1000] },
    },
    {
      id: '7.1.4',
      title: 'text message after close',
      rfc: '5.5.1: data after a close frame is not processed (no echo, not sent to the backend)',
      steps: [close(1000), text('after close')],
      events: [],
      end: { kind: 'close', codes: [1000] },
    },
    {
      id: '7.1.5',
      title: 'close in the middle of a fragmented message',
      rfc: '5.4-5.5.1: a control frame may come between fragments; the close is answered',
      steps: [text('frag', { fin: false }), close(1000)],
      events: [],
      end: { kind: 'close', codes: [1000] },
    },
    {
      id: '7.3.1',
      title: 'close without payload',
      rfc: '5.5.1, 7.1.5: answered with a close frame (empty or 1000); the backend sees no status (1005)',
      steps: [close()],
      events: [],
      end: { kind: 'close', codes: [undefined, 1000] },
      backend: { end: 1005 },
    },
    {
      id: '7.3.2',
      title: 'close with a 1-byte payload',
      rfc: '5.5.1: a close body starts with a 2-byte code; 1 byte is a protocol error (1002)',
      steps: [{ opcode: opcodes.close, payload: Buffer.from([0x03]) }],
      events: [],
      end: PROTOCOL_ERROR,
    },
    {
      id: '7.3.3',
      title: 'close 1000 with a 123-byte reason',
      rfc: '5.5: a control payload of 125 bytes is allowed; the reason reaches the backend',
      steps: [close(1000, ascii(123))],
      events: [],
      end: { kind: 'close', codes: [1000] },
      backend: { end: 1000, reason: ascii(123) },
    },
    {
      id: '7.3.4',
      title: 'close 1000 with a 124-byte reason (126-byte payload)',
      rfc: '5.5: control frames MUST have a payload of 125 bytes or less (1002)',
      steps: [close(1000, ascii(124))],
      events: [],
      end: PROTOCOL_ERROR,
    },
    {
      id: '7.3.5',
      title: 'close 1000 with a UTF-8 reason',
      rfc: '5.5.1: the reason is UTF-8 text; it reaches the backend as sent',
      steps: [close(1000, 'κόσμε 😀')],
      events: [],
      end: { kind: 'close', codes: [1000] },
      backend: { end: 1000, reason: 'κόσμε 😀' },
    },
    {
      id: '7.5.1',
      title: 'close 1000 with a reason that is not UTF-8',
      rfc: '5.5.1, 8.1: the reason MUST be UTF-8; invalid data fails the connection (1007)',
      steps: [close(1000, Buffer.from([0x6f, 0x6b, 0xff, 0xfe]))],
      events: [],
      end: INVALID_DATA,
    },
  ];
  [
    1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 3999, 4000, 4999,
  ].forEach((code, i) => {
    cases.push({
      id: `7.7.${i + 1}`,
      title: `close with valid code ${code}`,
      rfc: '7.4.1-7.4.2: a valid code is answered (echoed or 1000); the backend gets the code',
      steps: [close(code, 'bye')],
      events: [],
      end: { kind: 'close', codes: [code, 1000] },
      backend: { end: code, reason: 'bye' },
    });
  });
  [0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535].forEach((code, i) => {
    cases.push({
      id: `7.9.${i + 1}`,
      title: `close with invalid code ${code}`,
      rfc: `7.4: ${code} may not be sent in a close frame; receiving it is a protocol error (1002)`,
      steps: [close(code)],
      events: [],
      end: PROTOCOL_ERROR,
    });
  });
  // The backend ends the session: the client gets a close frame it can accept.
  const backendCloses: [number, string, (number | undefined)[]][] = [
    [1000, 'done', [1000]],
    [4001, 'app reason', [4001]],
    [3000, 'κόσμε', [3000]],
  ];
  backendCloses.forEach(([code, reason, codes], i) => {
    cases.push({
      id: `7.10.${i + 1}`,
      title: `backend closes with ${code} and a reason`,
      rfc: "5.5.1, 7.4: the backend's close code and reason reach the client",
      steps: [text(`cmd:close ${code} ${reason}`)],
      events: [],
      end: { kind: 'close', codes, reason },
      backend: { messages: [echoText(`cmd:close ${code} ${reason}`)] },
    });
  });
  [1005, 1006, 1015, 999, 5000].forEach((code, i) => {
    cases.push({
      id: `7.11.${i + 1}`,
      title: `backend closes with ${code}, a code a close frame may not carry`,
      rfc: `7.4.1: ${code} MUST NOT be sent in a close frame; the client gets a valid code`,
      steps: [text(`cmd:close ${code}`)],
      events: [],
      end: { kind: 'close', codes: [1011, 1014] },
      backend: { messages: [echoText(`cmd:close ${code}`)] },
    });
  });
  cases.push({
    id: '7.11.6',
    title: 'backend closes with 4002 and a reason that is not UTF-8',
    rfc: '5.5.1, 8.1: a close reason is UTF-8; the client gets a valid close frame',
    steps: [text('cmd:close 4002 hex:6f6bff')],
    events: [],
    end: { kind: 'close', codes: [4002, 1014] },
    backend: { messages: [echoText('cmd:close 4002 hex:6f6bff')] },
  });
  return cases;
}

function limits(messageMax: number): ConformanceCase[] {
  const tooBig = fail(1009);
  // Masked binary, 64-bit length 2^63 - 1, a mask key, and no payload.
  const header64 = Buffer.from([0x82, 0xff, 0x7f, ...Array(7).fill(0xff), 1, 2, 3, 4]);
  const fragment = Math.floor(messageMax / 16);
  return [
    {
      id: '9.1',
      title: `text message of --ws-max-message-size (${messageMax}) bytes`,
      rfc: '7.4.1: a message within the limit is delivered',
      steps: [text(ascii(messageMax))],
      events: [echoText(ascii(messageMax))],
      end: OPEN,
    },
    {
      id: '9.2',
      title: 'text message one byte over --ws-max-message-size',
      rfc: '7.4.1: 1009 closes a connection whose message is too big to process',
      steps: [text(ascii(messageMax + 1))],
      events: [],
      end: tooBig,
    },
    {
      id: '9.3',
      title: 'binary message over --ws-max-message-size in 16 fragments',
      rfc: '7.4.1: the limit is of the message, not the frame (1009)',
      steps: [
        binary(allBytes(fragment), { fin: false }),
        ...Array.from({ length: 14 }, () => cont(allBytes(fragment), false)),
        cont(allBytes(messageMax - 15 * fragment + 1), true),
      ],
      events: [],
      end: tooBig,
    },
    {
      id: '9.4',
      title: 'one frame over twice --ws-max-message-size',
      rfc: '7.4.1: a frame too big to take is closed with 1009',
      steps: [binary(allBytes(2 * messageMax + 1))],
      events: [],
      end: tooBig,
    },
    {
      id: '9.5',
      title: 'frame header announcing 2^63 - 1 bytes',
      rfc: '5.2, 7.4.1: a length no server takes is closed with 1009 (or 1002)',
      steps: [{ raw: header64 }],
      events: [],
      end: { kind: 'close', codes: [1009, 1002] },
    },
    {
      id: '9.6',
      title: '100 messages of 1 KiB in one burst',
      rfc: '5.6: every message is echoed, in order',
      steps: Array.from({ length: 100 }, (_, i) => text(`${i} `.padEnd(1024, '.'))),
      events: Array.from({ length: 100 }, (_, i) => echoText(`${i} `.padEnd(1024, '.'))),
      end: OPEN,
    },
  ];
}

function backendSide(messageMax: number): ConformanceCase[] {
  return [
    {
      id: '11.1',
      title: 'protocol error after a message: the backend got the message, then the end',
      rfc: '7.1.7: the failed connection ends the backend session too',
      steps: [text('before'), { awaitEvents: 1 }, { opcode: 5, payload: 'reserved' }],
      events: [echoText('before')],
      end: PROTOCOL_ERROR,
    },
    {
      id: '11.2',
      title: 'invalid UTF-8: the message never reaches the backend, the session ends',
      rfc: '8.1: invalid text is not delivered; the failed connection ends the backend session',
      steps: [text(Buffer.from([0xce, 0xba, 0xff]))],
      events: [],
      end: INVALID_DATA,
      backend: { messages: [] },
    },
    {
      id: '11.3',
      title: 'client drops TCP without a close frame: the backend sees a disconnect',
      rfc: '7.1.5: a connection closed without a close frame has status 1006 (abnormal)',
      steps: [text('before'), { awaitEvents: 1 }, { drop: true }],
      events: [echoText('before')],
      end: { kind: 'dropped' },
      backend: { end: 'disconnect' },
    },
    {
      id: '11.4',
      title: 'client closes with 4000 and a reason mid-message: the backend gets both',
      rfc: "7.1.5-7.1.6: the close code and reason the client sent are the connection's",
      steps: [text('frag', { fin: false }), close(4000, 'client leaves')],
      events: [],
      end: { kind: 'close', codes: [4000, 1000] },
      backend: { end: 4000, reason: 'client leaves' },
    },
    {
      id: '11.5',
      title: 'message too big: the backend session ends',
      rfc: '7.4.1: the connection closed with 1009 ends the backend session',
      steps: [text('before'), { awaitEvents: 1 }, binary(allBytes(messageMax + 1))],
      events: [echoText('before')],
      end: { kind: 'close', codes: [1009] },
    },
  ];
}

/** Every group; `messageMax` is the server's --ws-max-message-size. */
export function conformanceGroups(messageMax: number): CaseGroup[] {
  return [
    { id: 1, title: 'framing', cases: framing() },
    { id: 2, title: 'ping/pong', cases: pingPong() },
    { id: 3, title: 'reserved bits', cases: reservedBits() },
    { id: 4, title: 'opcodes', cases: reservedOpcodes() },
    { id: 5, title: 'fragmentation', cases: fragmentation() },
    { id: 6, title: 'UTF-8', cases: utf8() },
    { id: 7, title: 'close', cases: closing() },
    { id: 9, title: 'limits', cases: limits(messageMax) },
    { id: 11, title: 'backend side', cases: backendSide(messageMax) },
  ];
}
