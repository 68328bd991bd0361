import type { HttpResponse } from 'uWebSockets.js';
import { describe, expect, it } from 'vitest';
import {
  isRelayedHeader,
  rawHeaderPairs,
  sendCompleteResponse,
  writeRelayedHeaders,
  writeRelayedRawHeaders,
} from '../../../../proxy/http/response-headers.js';

/** Records what a uWS response is told, in order; values as the bytes that would go out. */
function fakeResponse() {
  const calls: string[] = [];
  const written: [string | Buffer, Buffer][] = [];
  let isCorked = false;
  const res = {
    cork(fn: () => void) {
      isCorked = true;
      fn();
      isCorked = false;
      return res;
    },
    writeStatus(status: string) {
      calls.push(`${isCorked ? 'corked ' : ''}status ${status}`);
      return res;
    },
    writeHeader(name: string | Buffer, value: string | Buffer) {
      const bytes = typeof value === 'string' ? Buffer.from(value, 'utf8') : value;
      calls.push(`${isCorked ? 'corked ' : ''}header ${name.toString()}`);
      written.push([name, bytes]);
      return res;
    },
    end(body: Buffer) {
      calls.push(`${isCorked ? 'corked ' : ''}end ${body.toString('latin1')}`);
      return res;
    },
  };
  return { res, calls, written };
}

const names = (written: [string | Buffer, Buffer][]) => written.map(([name]) => name.toString());

describe('writeRelayedRawHeaders', () => {
  const cases: [string, (Buffer | string)[], string[]][] = [
    [
      'keeps end-to-end headers with their names as the backend wrote them',
      ['Content-Type', 'text/plain', 'X-Custom', '1', 'set-cookie', 'a=1', 'set-cookie', 'b=2'],
      ['Content-Type', 'X-Custom', 'set-cookie', 'set-cookie'],
    ],
    [
      'drops hop-by-hop and framing headers and Date, in any case',
      [
        'Connection',
        'keep-alive',
        'KEEP-ALIVE',
        'timeout=5',
        'Proxy-Connection',
        'x',
        'Transfer-Encoding',
        'chunked',
        'Content-Length',
        '5',
        'Trailer',
        'x-sum',
        'Upgrade',
        'h2c',
        'Date',
        'Mon, 01 Jan 2024 00:00:00 GMT',
        'ETag',
        '"1"',
      ],
      ['ETag'],
    ],
    [
      'drops headers the backend names in Connection (not close/keep-alive themselves)',
      ['Connection', 'close, X-Hop', 'X-Hop', '1', 'X-Stay', '2'],
      ['X-Stay'],
    ],
    [
      'reads Buffer names and values like strings',
      [
        Buffer.from('X-Buf'),
        Buffer.from('v'),
        Buffer.from('connection'),
        Buffer.from('x-gone'),
        'X-Gone',
        'g',
      ],
      ['X-Buf'],
    ],
    ['ignores a trailing name without value', ['X-A', '1', 'X-Lonely'], ['X-A']],
  ];
  it.each(cases)('%s', (_name, raw, expected) => {
    const { res, written } = fakeResponse();
    writeRelayedRawHeaders(res, raw);
    expect(names(written)).toEqual(expected);
  });

  it('relays value bytes as the backend sent them, UTF-8 or not', () => {
    const { res, written } = fakeResponse();
    const latin1 = Buffer.from([0x63, 0x61, 0x66, 0xe9]);
    const utf8 = Buffer.from('café');
    writeRelayedRawHeaders(res, [Buffer.from('X-Latin1'), latin1, Buffer.from('X-Utf8'), utf8]);
    expect(written).toEqual([
      [Buffer.from('X-Latin1'), latin1],
      [Buffer.from('X-Utf8'), utf8],
    ]);
  });
});

describe('rawHeaderPairs', () => {
  it('pairs names and values, Buffers read as latin1 byte strings', () => {
    expect(
      rawHeaderPairs(['Grip-Hold', 'stream', Buffer.from('X-Bytes'), Buffer.from([0xe9, 0x41])]),
    ).toEqual([
      ['Grip-Hold', 'stream'],
      ['X-Bytes', '\u00e9A'],
    ]);
  });

  it('ignores a trailing name without value', () => {
    expect(rawHeaderPairs(['A', '1', 'B'])).toEqual([['A', '1']]);
  });
});

describe('isRelayedHeader', () => {
  const cases: [string, boolean][] = [
    ['Content-Type', true],
    ['Set-Cookie', true],
    ['content-length', false],
    ['Transfer-Encoding', false],
    ['DATE', false],
    ['Connection', false],
    ['Upgrade', false],
  ];
  it.each(cases)('%s: %s', (name, expected) => {
    expect(isRelayedHeader(name)).toBe(expected);
  });
});

describe('writeRelayedHeaders', () => {
  it('writes relayed pairs as the latin1 bytes they stand for, skipping the rest', () => {
    const { res, written } = fakeResponse();
    writeRelayedHeaders(res, [
      ['Content-Length', '3'],
      ['X-Name', '\u00e9t\u00e9'],
      ['Date', 'now'],
      ['Content-Type', 'text/plain'],
    ]);
    expect(written).toEqual([
      ['X-Name', Buffer.from([0xe9, 0x74, 0xe9])],
      ['Content-Type', Buffer.from('text/plain')],
    ]);
  });
});

describe('sendCompleteResponse', () => {
  it('writes status, relayed headers and body inside one cork', () => {
    const { res, calls } = fakeResponse();
    sendCompleteResponse(res as unknown as HttpResponse, {
      code: 201,
      reason: 'Created',
      headers: [
        ['X-A', '1'],
        ['Transfer-Encoding', 'chunked'],
      ],
      body: Buffer.from('made\n'),
    });
    expect(calls).toEqual(['corked status 201 Created', 'corked header X-A', 'corked end made\n']);
  });
});
