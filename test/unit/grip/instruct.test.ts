import { Channel, GripInstruct } from '@fanoutio/grip';
import { describe, expect, it } from 'vitest';
import { GripInstructError } from '../../../src/errors.js';
import {
  findStreamHoldProblem,
  gripFeatureHeader,
  isGripRawResponse,
  isGripResponse,
  parseInstruction,
  type BackendResponse,
  type InstructionOptions,
} from '../../../src/grip/instruct.js';
import type { GripInstruction } from '../../../src/grip/instruct-types.js';

type Headers = [string, string][];

const OPTIONS: InstructionOptions = { subscriptionMax: 20 };

function backend(headers: Headers, extra: Partial<BackendResponse> = {}): BackendResponse {
  return { code: 200, reason: 'OK', headers, body: Buffer.from('initial\n'), ...extra };
}

function parse(headers: Headers, extra: Partial<BackendResponse> = {}, options = OPTIONS) {
  return parseInstruction(backend(headers, extra), options);
}

function instruct(doc: unknown, headers: Headers = [], extra: Partial<BackendResponse> = {}) {
  return parse([['Content-Type', 'application/grip-instruct'], ...headers], {
    body: Buffer.from(typeof doc === 'string' ? doc : JSON.stringify(doc)),
    ...extra,
  });
}

function thrown(read: () => unknown): GripInstructError {
  try {
    read();
  } catch (err) {
    if (err instanceof GripInstructError) return err;
    throw err;
  }
  return expect.unreachable('no GripInstructError thrown');
}

describe('isGripResponse', () => {
  const cases: [string, Headers, boolean][] = [
    ['grip-instruct content type', [['Content-Type', 'application/grip-instruct']], true],
    [
      'grip-instruct content type with parameters and other case',
      [['content-type', 'Application/Grip-Instruct; charset=utf-8']],
      true,
    ],
    ['a lone Grip-Status', [['Grip-Status', '404']], true],
    ['an unknown Grip-Foo in any case', [['GRIP-FOO', 'x']], true],
    [
      'plain response',
      [
        ['Content-Type', 'text/plain'],
        ['X-Grip', 'no'],
      ],
      false,
    ],
    ['no headers', [], false],
  ];
  it.each(cases)('%s → %s', (_name, headers, expected) => {
    expect(isGripResponse(headers)).toBe(expected);
  });
  it.each(cases)('raw list, as undici gives it: %s → %s', (_name, headers, expected) => {
    const raw = headers.flatMap(([name, value]) => [Buffer.from(name), Buffer.from(value)]);
    expect(isGripRawResponse(raw)).toBe(expected);
  });
});

describe('parseInstruction: Grip-* headers', () => {
  const cases: [string, Headers, Partial<GripInstruction>][] = [
    [
      'only an unknown Grip header: no hold, defaults',
      [['Grip-Foo', 'x']],
      { hold: undefined, channels: [], timeout: 55, meta: {}, keepAlive: undefined },
    ],
    ['response hold', [['Grip-Hold', 'response']], { hold: 'response' }],
    ['stream hold', [['Grip-Hold', 'stream']], { hold: 'stream' }],
    [
      'channels with prev-id, comma-separated',
      [['Grip-Channel', 'a, b; prev-id=7']],
      {
        channels: [
          { name: 'a', filters: [] },
          { name: 'b', prevId: '7', filters: [] },
        ],
      },
    ],
    [
      'repeated Grip-Channel headers add up, empty parts are skipped',
      [
        ['Grip-Channel', 'a,, '],
        ['grip-channel', 'b'],
      ],
      {
        channels: [
          { name: 'a', filters: [] },
          { name: 'b', filters: [] },
        ],
      },
    ],
    [
      'filters repeat, prev-id may be quoted, names are case-insensitive',
      [['Grip-Channel', 'a; Filter=skip-self; filter=require-sub; PREV-ID="x;1"']],
      { channels: [{ name: 'a', prevId: 'x;1', filters: ['skip-self', 'require-sub'] }] },
    ],
    [
      'five filters are allowed',
      [['Grip-Channel', 'a' + '; filter=f'.repeat(5)]],
      { channels: [{ name: 'a', filters: ['f', 'f', 'f', 'f', 'f'] }] },
    ],
    [
      'UTF-8 channel names arrive as latin1 header bytes',
      [['Grip-Channel', Buffer.from('café', 'utf8').toString('latin1')]],
      { channels: [{ name: 'café', filters: [] }] },
    ],
    ['timeout', [['Grip-Timeout', '120']], { timeout: 120 }],
    ['timeout below 5 is clamped to 5', [['Grip-Timeout', '2']], { timeout: 5 }],
    ['timeout 0 is clamped to 5', [['Grip-Timeout', '0']], { timeout: 5 }],
    [
      'a timeout past what a Node timer holds is clamped to 2147483 s',
      [['Grip-Timeout', '2147484']],
      { timeout: 2147483 },
    ],
    [
      'a huge keep-alive timeout is clamped to 2147483 s',
      [['Grip-Keep-Alive', 'x; mode=interval; timeout=2147484']],
      { keepAlive: { data: Buffer.from('x'), timeout: 2147483, mode: 'interval' } },
    ],
    [
      'a huge next-link timeout is clamped to 2147483 s',
      [['Grip-Link', '</n>; rel=next; timeout=2147484']],
      { nextLink: { uri: '/n', timeout: 2147483 } },
    ],
    [
      'keep-alive: first occurrence only, commas kept',
      [
        ['Grip-Keep-Alive', 'a,b; timeout=10'],
        ['Grip-Keep-Alive', 'ignored'],
      ],
      { keepAlive: { data: Buffer.from('a,b'), timeout: 10, mode: 'idle' } },
    ],
    [
      'keep-alive decoding to no bytes is no keep-alive',
      [['Grip-Keep-Alive', '====; format=base64']],
      { keepAlive: undefined },
    ],
    [
      'status with reason',
      [['Grip-Status', '404 Nope']],
      { status: { code: 404, reason: 'Nope' } },
    ],
    [
      'status without reason gets the standard phrase',
      [['Grip-Status', '304']],
      { status: { code: 304, reason: 'Not Modified' } },
    ],
    [
      'status code without a standard phrase gets an empty reason',
      [['Grip-Status', '799']],
      { status: { code: 799, reason: '' } },
    ],
    ['an empty Grip-Status is ignored', [['Grip-Status', '']], { status: undefined }],
    [
      'next link with default timeout, kept as written',
      [['Grip-Link', '</stream/?after=3>; rel=next']],
      { nextLink: { uri: '/stream/?after=3', timeout: 120 } },
    ],
    [
      'next link with timeout and gone link in one header',
      [['Grip-Link', '<http://b/next>; rel=next; timeout=30, <http://b/gone>; rel=gone']],
      { nextLink: { uri: 'http://b/next', timeout: 30 }, goneLink: { uri: 'http://b/gone' } },
    ],
    [
      'a bare link and an unknown rel are ignored',
      [['Grip-Link', '<http://b/x>, <http://b/y>; rel=prev, not-a-link']],
      { nextLink: undefined, goneLink: undefined },
    ],
    [
      'meta pairs with quoted values',
      [
        ['Grip-Set-Meta', 'user="alice", nick="A \\"l\\", x"'],
        ['Grip-Set-Meta', 'plain=1; ignored=2'],
      ],
      { meta: { user: 'alice', nick: 'A "l", x', plain: '1' } },
    ],
    [
      'expose headers are lower-cased',
      [['Grip-Expose-Headers', 'Content-Type, X-A']],
      { exposeHeaders: ['content-type', 'x-a'] },
    ],
  ];
  it.each(cases)('%s', (_name, headers, expected) => {
    expect(parse(headers)).toMatchObject(expected);
  });

  it('builds the stored response from the backend minus Grip-* and framing headers', () => {
    const result = parse(
      [
        ['Content-Type', 'text/plain'],
        ['Grip-Hold', 'stream'],
        ['Connection', 'keep-alive'],
        ['Keep-Alive', 'timeout=5'],
        ['Transfer-Encoding', 'chunked'],
        ['Content-Length', '8'],
        ['Set-Cookie', 'a=1'],
        ['set-cookie', 'b=2'],
        ['GRIP-Channel', 'x'],
      ],
      { code: 201, reason: 'Made' },
    );
    expect(result.response).toEqual({
      code: 201,
      reason: 'Made',
      headers: [
        ['Content-Type', 'text/plain'],
        ['Set-Cookie', 'a=1'],
        ['set-cookie', 'b=2'],
      ],
      body: Buffer.from('initial\n'),
    });
  });

  it('keeps only exposed headers when Grip-Expose-Headers is present', () => {
    const result = parse([
      ['Content-Type', 'text/plain'],
      ['X-A', '1'],
      ['X-B', '2'],
      ['Grip-Expose-Headers', 'x-a'],
      ['Grip-Expose-Headers', 'CONTENT-TYPE'],
    ]);
    expect(result.response.headers).toEqual([
      ['Content-Type', 'text/plain'],
      ['X-A', '1'],
    ]);
  });

  it('Grip-Status replaces the backend status in the stored response', () => {
    const result = parse([['Grip-Status', '404 Nope']], { code: 200, reason: 'OK' });
    expect(result.response).toMatchObject({ code: 404, reason: 'Nope' });
  });

  it('an empty backend reason becomes the standard phrase', () => {
    expect(parse([['Grip-Foo', '1']], { code: 202, reason: '' }).response.reason).toBe('Accepted');
  });

  it('prefixes every channel with the route prefix', () => {
    const result = parse(
      [['Grip-Channel', 'a, b; prev-id=1']],
      {},
      {
        channelPrefix: 'p-',
        subscriptionMax: 20,
      },
    );
    expect(result.channels).toEqual([
      { name: 'p-a', filters: [] },
      { name: 'p-b', prevId: '1', filters: [] },
    ]);
  });

  it('keeps only the first subscriptionMax channels', () => {
    const result = parse([['Grip-Channel', 'a, b, c, d']], {}, { subscriptionMax: 2 });
    expect(result.channels.map((c) => c.name)).toEqual(['a', 'b']);
  });
});

describe('parseInstruction: malformed headers', () => {
  const cases: [string, Headers, string][] = [
    [
      'unknown hold mode',
      [['Grip-Hold', 'bogus']],
      "Grip-Hold must be set to either 'response' or 'stream'",
    ],
    ['hold mode in the wrong case', [['Grip-Hold', 'Stream']], 'Grip-Hold must be set'],
    ['empty hold', [['Grip-Hold', '']], 'Grip-Hold must be set'],
    [
      'six filters on a channel',
      [['Grip-Channel', 'x' + '; filter=f'.repeat(6)]],
      "too many filters for channel 'x'",
    ],
    ['non-integer timeout', [['Grip-Timeout', 'soon']], 'failed to parse Grip-Timeout'],
    ['empty timeout', [['Grip-Timeout', '']], 'failed to parse Grip-Timeout'],
    ['negative timeout', [['Grip-Timeout', '-1']], 'Grip-Timeout has invalid value'],
    [
      'empty keep-alive data',
      [['Grip-Keep-Alive', '; timeout=5']],
      'Grip-Keep-Alive cannot be empty',
    ],
    [
      'unknown keep-alive format',
      [['Grip-Keep-Alive', 'x; format=hex']],
      "no such Grip-Keep-Alive format 'hex'",
    ],
    [
      'unknown keep-alive mode',
      [['Grip-Keep-Alive', 'x; mode=often']],
      "no such Grip-Keep-Alive mode 'often'",
    ],
    [
      'bad keep-alive timeout',
      [['Grip-Keep-Alive', 'x; timeout=x']],
      'failed to parse Grip-Keep-Alive timeout value',
    ],
    [
      'negative keep-alive timeout',
      [['Grip-Keep-Alive', 'x; timeout=-1']],
      'Grip-Keep-Alive timeout has invalid value',
    ],
    [
      'bad keep-alive cstring',
      [['Grip-Keep-Alive', 'x\\x1; format=cstring']],
      'failed to parse Grip-Keep-Alive cstring format',
    ],
    ['an empty meta element', [['Grip-Set-Meta', 'a=1,,b=2']], 'Grip-Set-Meta cannot be empty'],
    ['non-numeric status', [['Grip-Status', 'OK']], 'Grip-Status contains invalid status code'],
    ['status above 999', [['Grip-Status', '1000 Big']], 'Grip-Status contains invalid status code'],
    ['negative status', [['Grip-Status', '-1']], 'Grip-Status contains invalid status code'],
    [
      'link without angle brackets',
      [['Grip-Link', 'http://b/next; rel=next']],
      'failed to parse Grip-Link value',
    ],
    ['empty link', [['Grip-Link', '<>; rel=next']], 'failed to parse Grip-Link value'],
    [
      'link that is not a URL',
      [['Grip-Link', '<http://[::1/x>; rel=next']],
      'Grip-Link contains invalid link',
    ],
    [
      'non-integer link timeout',
      [['Grip-Link', '</n>; rel=next; timeout=x']],
      'failed to parse Grip-Link timeout value',
    ],
    [
      'negative link timeout',
      [['Grip-Link', '</n>; rel=next; timeout=-3']],
      'Grip-Link timeout has invalid value',
    ],
  ];
  it.each(cases)('%s', (_name, headers, message) => {
    expect(() => parse(headers)).toThrow(GripInstructError);
    expect(() => parse(headers)).toThrow(message);
  });

  // Each case sets one header, the one at fault.
  it.each(cases)('%s: the error names its header as source', (_name, headers) => {
    expect(thrown(() => parse(headers)).source).toBe(headers[0]![0]);
  });

  it('too many filters in a Grip-Channel header is sourced to it even with a JSON body', () => {
    const error = thrown(() => instruct({}, [['Grip-Channel', 'x' + '; filter=f'.repeat(6)]]));
    expect(error.source).toBe('Grip-Channel');
  });

  it('errors carry the E_GRIP_INSTRUCT code', () => {
    try {
      parse([['Grip-Hold', 'bogus']]);
      expect.unreachable();
    } catch (err) {
      expect((err as GripInstructError).code).toBe('E_GRIP_INSTRUCT');
    }
  });
});

describe('parseInstruction: application/grip-instruct JSON', () => {
  it('reads the documented example', () => {
    const result = instruct({
      hold: {
        mode: 'response',
        channels: [{ name: 'mychannel', 'prev-id': '1', filters: ['skip-self'] }],
        timeout: 30,
        'keep-alive': { content: '\n', timeout: 20 },
        meta: { user: 'alice' },
      },
      response: {
        code: 200,
        reason: 'OK',
        headers: { 'Content-Type': 'text/plain' },
        body: 'no data yet\n',
      },
    });
    expect(result).toEqual({
      hold: 'response',
      channels: [{ name: 'mychannel', prevId: '1', filters: ['skip-self'] }],
      timeout: 30,
      keepAlive: { data: Buffer.from('\n'), timeout: 20, mode: 'idle' },
      status: undefined,
      nextLink: undefined,
      goneLink: undefined,
      meta: { user: 'alice' },
      exposeHeaders: undefined,
      response: {
        code: 200,
        reason: 'OK',
        headers: [['Content-Type', 'text/plain']],
        body: Buffer.from('no data yet\n'),
      },
    });
  });

  it('clamps huge hold and keep-alive timeouts to what a Node timer holds (2147483 s)', () => {
    const result = instruct({
      hold: {
        channels: [{ name: 'c' }],
        timeout: 2147484,
        'keep-alive': { content: '\n', timeout: 1e12 },
      },
    });
    expect(result.timeout).toBe(2147483);
    expect(result.keepAlive?.timeout).toBe(2147483);
  });

  it('discards the backend headers and body; a given code gets its standard reason', () => {
    const result = instruct(
      {
        hold: { mode: 'response', channels: [{ name: 'test' }], timeout: 5 },
        response: { code: 202, headers: { 'X-I': '1' }, body: 'instruct timeout\n' },
      },
      [['X-Dropped', 'yes']],
    );
    expect(result.response).toEqual({
      code: 202,
      reason: 'Accepted',
      headers: [['X-I', '1']],
      body: Buffer.from('instruct timeout\n'),
    });
  });

  it('without response: backend status (or Grip-Status), no headers, empty body', () => {
    expect(instruct({}).response).toEqual({
      code: 200,
      reason: 'OK',
      headers: [],
      body: Buffer.alloc(0),
    });
    expect(instruct({}, [['Grip-Status', '202']]).response).toMatchObject({
      code: 202,
      reason: 'Accepted',
    });
  });

  it('a hold without mode is a response hold and replaces the header mode', () => {
    expect(instruct({ hold: { channels: [] } }, [['Grip-Hold', 'stream']]).hold).toBe('response');
  });

  it('applies JSON on top of headers: channels and meta added, timeout replaced', () => {
    const result = instruct(
      { hold: { mode: 'stream', channels: [{ name: 'j' }], timeout: 9, meta: { b: '2' } } },
      [
        ['Grip-Channel', 'h'],
        ['Grip-Timeout', '30'],
        ['Grip-Set-Meta', 'a=1'],
        ['Grip-Keep-Alive', 'ka; mode=interval; timeout=7'],
      ],
    );
    expect(result).toMatchObject({
      hold: 'stream',
      channels: [
        { name: 'h', filters: [] },
        { name: 'j', filters: [] },
      ],
      timeout: 9,
      meta: { a: '1', b: '2' },
      keepAlive: { data: Buffer.from('ka'), timeout: 7, mode: 'interval' },
    });
  });

  it('JSON keep-alive replaces data and timeout but keeps the header mode', () => {
    const result = instruct(
      { hold: { mode: 'stream', channels: [], 'keep-alive': { 'content-bin': 'AAE=' } } },
      [['Grip-Keep-Alive', 'ka; mode=interval; timeout=7']],
    );
    expect(result.keepAlive).toEqual({ data: Buffer.from([0, 1]), timeout: 55, mode: 'interval' });
  });

  it('accepts headers as [name, value] pairs and drops Grip-* and framing names', () => {
    const result = instruct({
      response: {
        headers: [
          ['X-A', '1'],
          ['X-A', '2'],
          ['Grip-Hold', 'stream'],
          ['Content-Length', '99'],
        ],
      },
    });
    expect(result.response.headers).toEqual([
      ['X-A', '1'],
      ['X-A', '2'],
    ]);
  });

  it('body-bin wins over body; an explicit reason is kept', () => {
    const result = instruct({
      response: { code: 201, reason: 'Yes', body: 'text', 'body-bin': 'Ynl0ZXM=' },
    });
    expect(result.response).toMatchObject({ code: 201, reason: 'Yes', body: Buffer.from('bytes') });
  });

  it('a JSON code recomputes the reason given by Grip-Status', () => {
    const result = instruct({ response: { code: 404 } }, [['Grip-Status', '500 Custom']]);
    expect(result.response).toMatchObject({ code: 404, reason: 'Not Found' });
  });

  it('treats null optional fields as absent', () => {
    const result = instruct({
      hold: {
        mode: null,
        channels: [{ name: 'a', 'prev-id': null, filters: null }],
        'keep-alive': null,
        meta: null,
      },
      response: { reason: null },
    });
    expect(result).toMatchObject({
      hold: 'response',
      channels: [{ name: 'a', filters: [] }],
      keepAlive: undefined,
      meta: {},
    });
  });

  it('accepts a content type with parameters', () => {
    const result = parse([['Content-Type', 'application/grip-instruct; charset=utf-8']], {
      body: Buffer.from('{"hold":{"channels":[{"name":"c"}]}}'),
    });
    expect(result.channels).toEqual([{ name: 'c', filters: [] }]);
  });

  it('truncates fractional numbers like Pushpin', () => {
    expect(instruct({ hold: { channels: [], timeout: 12.9 } }).timeout).toBe(12);
  });
});

describe('parseInstruction: malformed application/grip-instruct', () => {
  const cases: [string, unknown, string][] = [
    ['invalid JSON', '{"hold":', 'failed to parse application/grip-instruct content as JSON'],
    ['empty body', '', 'failed to parse application/grip-instruct content as JSON'],
    ['an array', [], 'instruct must be an object'],
    ['a string', '"hold"', 'instruct must be an object'],
    ['hold not an object', { hold: [] }, "instruct contains 'hold' with wrong type"],
    ['hold null', { hold: null }, "instruct contains 'hold' with wrong type"],
    [
      'unknown hold mode',
      { hold: { mode: 'x', channels: [] } },
      "hold 'mode' must be set to either 'response' or 'stream'",
    ],
    [
      'hold mode not a string',
      { hold: { mode: 1, channels: [] } },
      "hold contains 'mode' with wrong type",
    ],
    ['hold without channels', { hold: {} }, "hold does not contain 'channels'"],
    ['channels not a list', { hold: { channels: {} } }, "hold contains 'channels' with wrong type"],
    ['channel not an object', { hold: { channels: ['a'] } }, 'channel is not an object'],
    ['channel without name', { hold: { channels: [{}] } }, "channel does not contain 'name'"],
    [
      'channel name not a string',
      { hold: { channels: [{ name: 1 }] } },
      "channel contains 'name' with wrong type",
    ],
    ['empty channel name', { hold: { channels: [{ name: '' }] } }, 'channel name is empty'],
    [
      'channel name with a NUL',
      { hold: { channels: [{ name: 'a\u0000b' }] } },
      'channel name contains a NUL character',
    ],
    [
      'prev-id not a string',
      { hold: { channels: [{ name: 'a', 'prev-id': 1 }] } },
      "channel contains 'prev-id' with wrong type",
    ],
    [
      'filters not a list',
      { hold: { channels: [{ name: 'a', filters: 'x' }] } },
      "channel contains 'filters' with wrong type",
    ],
    [
      'filter not a string',
      { hold: { channels: [{ name: 'a', filters: [1] }] } },
      'filters contains value with wrong type',
    ],
    [
      'six filters',
      { hold: { channels: [{ name: 'a', filters: Array(6).fill('f') }] } },
      "too many filters for channel 'a'",
    ],
    [
      'timeout not a number',
      { hold: { channels: [], timeout: '5' } },
      "hold contains 'timeout' with wrong type",
    ],
    [
      'timeout null',
      { hold: { channels: [], timeout: null } },
      "hold contains 'timeout' with wrong type",
    ],
    [
      'negative timeout',
      { hold: { channels: [], timeout: -1 } },
      "hold contains 'timeout' with invalid value",
    ],
    [
      'keep-alive not an object',
      { hold: { channels: [], 'keep-alive': 'x' } },
      "hold contains 'keep-alive' with wrong type",
    ],
    [
      'keep-alive content not a string',
      { hold: { channels: [], 'keep-alive': { content: 1 } } },
      "keep-alive contains 'content' with wrong type",
    ],
    [
      'keep-alive content-bin not a string',
      { hold: { channels: [], 'keep-alive': { 'content-bin': 1 } } },
      "keep-alive contains 'content-bin' with wrong type",
    ],
    [
      'keep-alive timeout not a number',
      { hold: { channels: [], 'keep-alive': { content: 'x', timeout: 'x' } } },
      "keep-alive contains 'timeout' with wrong type",
    ],
    [
      'negative keep-alive timeout',
      { hold: { channels: [], 'keep-alive': { content: 'x', timeout: -1 } } },
      "keep-alive contains 'timeout' with invalid value",
    ],
    [
      'meta not an object',
      { hold: { channels: [], meta: [] } },
      "hold contains 'meta' with wrong type",
    ],
    [
      'meta value not a string',
      { hold: { channels: [], meta: { a: 1 } } },
      "'meta' contains 'a' with wrong type",
    ],
    ['response not an object', { response: 'x' }, "instruct contains 'response' with wrong type"],
    [
      'code not a number',
      { response: { code: '200' } },
      "response contains 'code' with wrong type",
    ],
    ['code above 999', { response: { code: 1000 } }, "response contains 'code' with invalid value"],
    ['negative code', { response: { code: -1 } }, "response contains 'code' with invalid value"],
    [
      'reason not a string',
      { response: { reason: 1 } },
      "response contains 'reason' with wrong type",
    ],
    [
      'headers not a list or object',
      { response: { headers: 'x' } },
      "response contains 'headers' with wrong type",
    ],
    [
      'a header value with CR LF (response splitting)',
      { response: { headers: { 'X-A': 'v\r\nSet-Cookie: evil=1' } } },
      "response header 'X-A' has a value with a CR, LF or NUL character",
    ],
    [
      'a header name that is not a token',
      { response: { headers: [['X A', 'v']] } },
      'response header name "X A" is not a token',
    ],
    [
      'a reason with CR LF',
      { response: { reason: 'OK\r\nX-B: 1' } },
      'response reason has a CR, LF or NUL character',
    ],
    [
      'header element not a list',
      { response: { headers: ['x'] } },
      'headers contains element with wrong type',
    ],
    [
      'header pair of three',
      { response: { headers: [['a', 'b', 'c']] } },
      'headers contains list with wrong number of elements',
    ],
    [
      'header name not a string',
      { response: { headers: [[1, 'b']] } },
      'header contains name element with wrong type',
    ],
    [
      'header value not a string',
      { response: { headers: [['a', 1]] } },
      'header contains value element with wrong type',
    ],
    [
      'header object value not a string',
      { response: { headers: { a: 1 } } },
      "headers contains 'a' with wrong type",
    ],
    ['body not a string', { response: { body: 1 } }, "response contains 'body' with wrong type"],
    [
      'body-bin not a string',
      { response: { 'body-bin': 1 } },
      "response contains 'body-bin' with wrong type",
    ],
  ];
  it.each(cases)('%s', (_name, doc, message) => {
    expect(() => instruct(doc)).toThrow(GripInstructError);
    expect(() => instruct(doc)).toThrow(message);
  });

  it.each(cases)('%s: the error names the body as source', (_name, doc) => {
    expect(thrown(() => instruct(doc)).source).toBe('application/grip-instruct body');
  });

  it('too many filters in a JSON channel is sourced to the body', () => {
    const channels = [{ name: 'x', filters: ['a', 'b', 'c', 'd', 'e', 'f'] }];
    expect(thrown(() => instruct({ hold: { channels } })).source).toBe(
      'application/grip-instruct body',
    );
  });

  it('refuses a non-200 backend status', () => {
    expect(() => instruct({}, [], { code: 201 })).toThrow(
      'response code for application/grip-instruct content must be 200',
    );
    expect(thrown(() => instruct({}, [], { code: 201 })).source).toBe(
      'application/grip-instruct body',
    );
  });
});

describe('parseInstruction: headers written by @fanoutio/grip', () => {
  function fromJsGrip(gi: GripInstruct): GripInstruction {
    return parse(Object.entries(gi.toHeaders()));
  }

  it('long-poll on two channels with a prev-id and timeout', () => {
    const gi = new GripInstruct([new Channel('a'), new Channel('b', '7')]);
    gi.setHoldLongPoll(30);
    expect(fromJsGrip(gi)).toMatchObject({
      hold: 'response',
      channels: [
        { name: 'a', filters: [] },
        { name: 'b', prevId: '7', filters: [] },
      ],
      timeout: 30,
    });
  });

  it('stream with keep-alive, meta, next link and status', () => {
    const gi = new GripInstruct('events');
    gi.setHoldStream();
    gi.setKeepAlive(':\n\n', 20);
    gi.meta = { user: 'a"b', list: 'x, y; z' };
    gi.setNextLink('/next?x=1', 30);
    gi.setStatus(202);
    expect(fromJsGrip(gi)).toMatchObject({
      hold: 'stream',
      channels: [{ name: 'events', filters: [] }],
      keepAlive: { data: Buffer.from(':\n\n'), timeout: 20, mode: 'idle' },
      meta: { user: 'a"b', list: 'x, y; z' },
      nextLink: { uri: '/next?x=1', timeout: 30 },
      status: { code: 202, reason: 'Accepted' },
      response: { code: 202, reason: 'Accepted' },
    });
  });

  it('status only, with the empty Grip-Channel js-grip always writes', () => {
    const gi = new GripInstruct();
    gi.setStatus(304);
    const result = fromJsGrip(gi);
    expect(result).toMatchObject({ hold: undefined, channels: [], status: { code: 304 } });
  });

  it('next link without timeout gets the default 120 s', () => {
    const gi = new GripInstruct();
    gi.setNextLink('http://backend/next');
    expect(fromJsGrip(gi).nextLink).toEqual({ uri: 'http://backend/next', timeout: 120 });
  });
});

describe('findStreamHoldProblem', () => {
  const cases: [string, Headers, string | undefined][] = [
    [
      'stream hold, prev-id, no next link',
      [
        ['Grip-Hold', 'stream'],
        ['Grip-Channel', 'a, x; prev-id=1'],
      ],
      "channel 'x' specifies prev-id, but no next link found",
    ],
    [
      'stream hold, prev-id, next link',
      [
        ['Grip-Hold', 'stream'],
        ['Grip-Channel', 'x; prev-id=1'],
        ['Grip-Link', '</n>; rel=next'],
      ],
      undefined,
    ],
    [
      'stream hold without prev-id',
      [
        ['Grip-Hold', 'stream'],
        ['Grip-Channel', 'x'],
      ],
      undefined,
    ],
    [
      'response hold with prev-id',
      [
        ['Grip-Hold', 'response'],
        ['Grip-Channel', 'x; prev-id=1'],
      ],
      undefined,
    ],
  ];
  it.each(cases)('%s', (_name, headers, expected) => {
    expect(findStreamHoldProblem(parse(headers))).toBe(expected);
  });
});

describe('gripFeatureHeader', () => {
  it('advertises the implemented features as a comma-separated list', () => {
    expect(gripFeatureHeader.split(', ')).toEqual([
      'status',
      'link:next',
      'link:gone',
      'filter:skip-self',
      'filter:skip-users',
      'filter:require-sub',
      'filter:build-id',
      'filter:var-subst',
    ]);
  });
});
