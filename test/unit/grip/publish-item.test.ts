import { describe, expect, it } from 'vitest';
import { PublishFormatError } from '../../../src/errors.js';
import { parsePublishBody, parsePublishMessage } from '../../../src/grip/publish-item.js';
import type { PublishItem } from '../../../src/grip/publish-types.js';
import { encodeTnetstring, type TnetInput } from '../../../src/grip/tnetstring.js';

const body = (value: unknown): Buffer => Buffer.from(JSON.stringify(value));
const one = (item: unknown): Buffer => body({ items: [item] });
const stream = { 'http-stream': { content: 'hi\n' } };
/** One item as a ZeroMQ `J` (JSON) payload: the public way to parse an item on its own. */
const jsonItem = (value: unknown, channelOverride?: string): PublishItem =>
  parsePublishMessage(Buffer.from('J' + JSON.stringify(value)), channelOverride);
/** One item as a ZeroMQ `T` (tnetstring) payload, as pushpin-publish sends it. */
const tnetItem = (data: Buffer): PublishItem =>
  parsePublishMessage(Buffer.concat([Buffer.from('T'), data]));

function errorOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(PublishFormatError);
    return (err as Error).message;
  }
  throw new Error('expected a PublishFormatError');
}

describe('parsePublishBody errors match Pushpin bodies', () => {
  const cases: [string, Buffer, string][] = [
    ['not JSON', Buffer.from('{nope'), 'Body is not valid JSON.'],
    ['empty body', Buffer.alloc(0), 'Body is not valid JSON.'],
    ['a JSON scalar', Buffer.from('42'), 'Body is not valid JSON.'],
    ['JSON null', Buffer.from('null'), 'Body is not valid JSON.'],
    ['JSON array', Buffer.from('[]'), 'Invalid format.'],
    ['no items', body({}), "Invalid format: object does not contain 'items'"],
    [
      'items not an array',
      body({ items: {} }),
      "Invalid format: object contains 'items' with wrong type",
    ],
    ['item not an object', one('x'), 'Invalid format: publish item object is not an object'],
    [
      'item without channel',
      one({ formats: stream }),
      "Invalid format: publish item object does not contain 'channel'",
    ],
    [
      'channel not a string',
      one({ channel: 5, formats: stream }),
      "Invalid format: publish item object contains 'channel' with wrong type",
    ],
    [
      'channel null',
      one({ channel: null, formats: stream }),
      "Invalid format: publish item object contains 'channel' with wrong type",
    ],
    // Not Pushpin's: it takes these; here they are the internal bus's own topics.
    [
      'empty channel',
      one({ channel: '', formats: stream }),
      "Invalid format: publish item object contains 'channel' that is empty",
    ],
    [
      'channel with a NUL',
      one({ channel: '\u0000replay-end:0:1', formats: stream }),
      "Invalid format: publish item object contains 'channel' that contains a NUL character",
    ],
    [
      'id not a string',
      one({ channel: 'c', id: 1, formats: stream }),
      "Invalid format: publish item object contains 'id' with wrong type",
    ],
    [
      'prev-id not a string',
      one({ channel: 'c', 'prev-id': [], formats: stream }),
      "Invalid format: publish item object contains 'prev-id' with wrong type",
    ],
    [
      'formats not an object',
      one({ channel: 'c', formats: [] }),
      "Invalid format: publish item object contains 'formats' with wrong type",
    ],
    ['no formats', one({ channel: 'c' }), 'Invalid format: no formats specified'],
    ['empty formats', one({ channel: 'c', formats: {} }), 'Invalid format: no formats specified'],
    [
      'format not an object',
      one({ channel: 'c', formats: { 'http-stream': 'x' } }),
      "Invalid format: 'http-stream' is not an object",
    ],
    [
      'http-stream without content',
      one({ channel: 'c', formats: { 'http-stream': {} } }),
      "Invalid format: 'http-stream' does not contain 'content' or 'content-bin'",
    ],
    [
      'http-stream content not a string',
      one({ channel: 'c', formats: { 'http-stream': { content: 1 } } }),
      "Invalid format: 'http-stream' contains 'content' with wrong type",
    ],
    [
      'http-stream content-bin not a string',
      one({ channel: 'c', formats: { 'http-stream': { 'content-bin': 1 } } }),
      "Invalid format: 'http-stream' contains 'content-bin' with wrong type",
    ],
    [
      'http-response without body',
      one({ channel: 'c', formats: { 'http-response': {} } }),
      "Invalid format: 'http-response' does not contain 'body', 'body-bin', or 'body-patch'",
    ],
    [
      'http-response body not a string',
      one({ channel: 'c', formats: { 'http-response': { body: {} } } }),
      "Invalid format: 'http-response' contains 'body' with wrong type",
    ],
    [
      'code above 999',
      one({ channel: 'c', formats: { 'http-response': { code: 1000, body: '' } } }),
      "Invalid format: 'http-response' contains 'code' with invalid value",
    ],
    [
      'code below 0',
      one({ channel: 'c', formats: { 'http-response': { code: -1, body: '' } } }),
      "Invalid format: 'http-response' contains 'code' with invalid value",
    ],
    [
      'code not a number',
      one({ channel: 'c', formats: { 'http-response': { code: '2oo', body: '' } } }),
      "Invalid format: 'http-response' contains 'code' with wrong type",
    ],
    [
      'reason not a string',
      one({ channel: 'c', formats: { 'http-response': { reason: 1, body: '' } } }),
      "Invalid format: 'http-response' contains 'reason' with wrong type",
    ],
    [
      'headers not a list or object',
      one({ channel: 'c', formats: { 'http-response': { headers: 'x', body: '' } } }),
      "Invalid format: 'http-response' contains 'headers' with wrong type",
    ],
    [
      'a header value with CR LF (response splitting)',
      one({
        channel: 'c',
        formats: { 'http-response': { headers: { 'X-A': 'v\r\nSet-Cookie: evil=1' }, body: '' } },
      }),
      "Invalid format: 'http-response' header 'X-A' has a value with a CR, LF or NUL character",
    ],
    [
      'a header name that is not a token',
      one({ channel: 'c', formats: { 'http-response': { headers: [['X A', 'v']], body: '' } } }),
      'Invalid format: \'http-response\' header name "X A" is not a token',
    ],
    [
      'a reason with CR LF',
      one({ channel: 'c', formats: { 'http-response': { reason: 'OK\r\nX-B: 1', body: '' } } }),
      "Invalid format: 'http-response' reason has a CR, LF or NUL character",
    ],
    [
      'header pair not a list',
      one({ channel: 'c', formats: { 'http-response': { headers: ['x'], body: '' } } }),
      'Invalid format: headers contains element with wrong type',
    ],
    [
      'header pair of three',
      one({ channel: 'c', formats: { 'http-response': { headers: [['a', 'b', 'c']], body: '' } } }),
      'Invalid format: headers contains list with wrong number of elements',
    ],
    [
      'header name not a string',
      one({ channel: 'c', formats: { 'http-response': { headers: [[1, 'b']], body: '' } } }),
      'Invalid format: header contains name element with wrong type',
    ],
    [
      'header value not a string',
      one({ channel: 'c', formats: { 'http-response': { headers: [['a', 1]], body: '' } } }),
      'Invalid format: header contains value element with wrong type',
    ],
    [
      'header object value not a string',
      one({ channel: 'c', formats: { 'http-response': { headers: { 'X-A': 1 }, body: '' } } }),
      "Invalid format: headers contains 'X-A' with wrong type",
    ],
    [
      'body-patch not a list',
      one({ channel: 'c', formats: { 'http-response': { 'body-patch': {} } } }),
      "Invalid format: 'http-response' contains 'body-patch' with wrong type",
    ],
    [
      'body-patch with an operation RFC 6902 does not have',
      one({
        channel: 'c',
        formats: { 'http-response': { 'body-patch': [{ op: 'merge', path: '/a' }] } },
      }),
      "Invalid format: 'http-response' contains 'body-patch' with an invalid operation: Operation `op` property is not one of operations defined in RFC-6902 (operation 0)",
    ],
    [
      'body-patch with a path that is not a JSON pointer',
      one({
        channel: 'c',
        formats: {
          'http-response': {
            'body-patch': [
              { op: 'add', path: '/ok', value: 1 },
              { op: 'remove', path: 'nope' },
            ],
          },
        },
      }),
      "Invalid format: 'http-response' contains 'body-patch' with an invalid operation: Operation `path` property must start with \"/\" (operation 1)",
    ],
    [
      'content-filters not a list',
      one({ channel: 'c', formats: { 'http-stream': { content: '', 'content-filters': 'x' } } }),
      "Invalid format: 'http-stream' contains 'content-filters' with wrong type",
    ],
    [
      'content-filters element not a string',
      one({ channel: 'c', formats: { 'http-stream': { content: '', 'content-filters': [1] } } }),
      'Invalid format: content-filters contains element with wrong type',
    ],
    [
      'meta not an object',
      one({ channel: 'c', formats: stream, meta: 'x' }),
      "Invalid format: publish item object contains 'meta' with wrong type",
    ],
    [
      'non-string meta value',
      one({ channel: 'c', formats: stream, meta: { sender: 'a', n: 1 } }),
      "Invalid format: 'meta' contains 'n' with wrong type",
    ],
    [
      'no-seq not a boolean',
      one({ channel: 'c', formats: stream, 'no-seq': 'true' }),
      "Invalid format: publish item object contains 'no-seq' with wrong type",
    ],
    [
      'size not a number',
      one({ channel: 'c', formats: stream, size: 'big' }),
      "Invalid format: publish item object contains 'size' with wrong type",
    ],
    [
      'negative size',
      one({ channel: 'c', formats: stream, size: -1 }),
      "Invalid format: publish item object contains 'size' with invalid value",
    ],
    [
      'unknown action',
      one({ channel: 'c', formats: { 'http-stream': { action: 'x' } } }),
      'Invalid format: unknown action "x" in \'http-stream\'',
    ],
    [
      'action not a string',
      one({ channel: 'c', formats: { 'ws-message': { action: 1 } } }),
      "Invalid format: 'ws-message' contains 'action' with wrong type",
    ],
    [
      'ws-message unknown type',
      one({ channel: 'c', formats: { 'ws-message': { type: 'frame', content: '' } } }),
      "Invalid format: 'ws-message' contains 'type' with unknown value",
    ],
    [
      'ws-message text without content',
      one({ channel: 'c', formats: { 'ws-message': {} } }),
      "Invalid format: 'ws-message' does not contain 'content' or 'content-bin'",
    ],
    [
      'ws-message binary without content',
      one({ channel: 'c', formats: { 'ws-message': { type: 'binary' } } }),
      "Invalid format: 'ws-message' does not contain 'content' or 'content-bin'",
    ],
    [
      'ws-message content-bin not a string',
      one({ channel: 'c', formats: { 'ws-message': { 'content-bin': 5 } } }),
      "Invalid format: 'ws-message' contains 'content-bin' with wrong type",
    ],
    [
      'ws-message close code not a number',
      one({ channel: 'c', formats: { 'ws-message': { action: 'close', code: 'x' } } }),
      "Invalid format: 'ws-message' contains 'code' with wrong type",
    ],
    [
      'ws-message close code negative',
      one({ channel: 'c', formats: { 'ws-message': { action: 'close', code: -5 } } }),
      "Invalid format: 'ws-message' contains 'code' with invalid value",
    ],
    [
      'second of two items invalid, named by index',
      body({ items: [{ channel: 'a', formats: stream }, { formats: stream }] }),
      "Invalid format: item 1: publish item object does not contain 'channel'",
    ],
  ];
  it.each(cases)('%s', (_name, input, message) => {
    expect(errorOf(() => parsePublishBody(input))).toBe(message);
  });
});

describe('deeply nested JSON (found by the port fuzz test)', () => {
  /** `levels` nested arrays around `inner`, as a body-patch value or meta value. */
  const nested = (levels: number, inner: Buffer): Buffer =>
    Buffer.concat([Buffer.from('['.repeat(levels)), inner, Buffer.from(']'.repeat(levels))]);
  const patchItem = (value: Buffer): Buffer =>
    Buffer.concat([
      Buffer.from(
        '{"channel":"a","formats":{"http-response":{"body-patch":[{"op":"add","path":"/a","value":',
      ),
      value,
      Buffer.from('}]}}}'),
    ]);

  it('is refused as invalid JSON past 1024 levels, as Qt reads it, not with a stack overflow', () => {
    for (const inner of [Buffer.from('1'), Buffer.from([0x22, 0xff, 0x22])]) {
      const item = patchItem(nested(10_000, inner));
      const body = Buffer.concat([Buffer.from('{"items":['), item, Buffer.from(']}')]);
      expect(() => parsePublishBody(body)).toThrow(
        new PublishFormatError('Body is not valid JSON.'),
      );
      expect(() => parsePublishMessage(Buffer.concat([Buffer.from('J'), item]))).toThrow(
        new PublishFormatError('received message with invalid format (json parse failed)'),
      );
    }
  });

  it('is read as usual up to the limit', () => {
    // Body object, items, item, formats, http-response, body-patch, operation: 7 levels.
    const item = patchItem(nested(1024 - 7, Buffer.from('1')));
    const [parsed] = parsePublishBody(
      Buffer.concat([Buffer.from('{"items":['), item, Buffer.from(']}')]),
    );
    expect(parsed!.formats.httpResponse!.bodyPatch).toHaveLength(1);
  });
});

describe('parsePublishBody accepts', () => {
  it('an empty item list', () => {
    expect(parsePublishBody(body({ items: [] }))).toEqual([]);
  });

  it('every item of a valid list, in order', () => {
    const items = parsePublishBody(
      body({
        items: [
          { channel: 'a', formats: stream },
          { channel: 'b', formats: stream },
        ],
      }),
    );
    expect(items.map((i) => i.channel)).toEqual(['a', 'b']);
  });

  it('nothing when one item of many is invalid (all or nothing)', () => {
    expect(() =>
      parsePublishBody(body({ items: [{ channel: 'a', formats: stream }, { channel: 'b' }] })),
    ).toThrow(PublishFormatError);
  });
});

describe('one JSON item (ZeroMQ J payload)', () => {
  const cases: [string, unknown, PublishItem][] = [
    [
      'http-stream content as UTF-8 bytes, with id, prev-id, meta, no-seq and size',
      {
        channel: 'c',
        id: 'a2',
        'prev-id': 'a1',
        meta: { sender: 'alice' },
        'no-seq': true,
        size: 12,
        formats: { 'http-stream': { content: 'héllo\n' } },
      },
      {
        channel: 'c',
        id: 'a2',
        prevId: 'a1',
        meta: { sender: 'alice' },
        noSeq: true,
        size: 12,
        formats: { httpStream: { action: 'send', content: Buffer.from('héllo\n') } },
      },
    ],
    [
      'content-bin as Base64, winning over content',
      { channel: 'c', formats: { 'http-stream': { content: 'text', 'content-bin': 'AAECAw==' } } },
      {
        channel: 'c',
        noSeq: false,
        formats: { httpStream: { action: 'send', content: Buffer.from([0, 1, 2, 3]) } },
      },
    ],
    [
      'the legacy shape with formats on the item',
      { channel: 'c', 'http-stream': { content: 'x' }, 'ws-message': { content: 'y' } },
      {
        channel: 'c',
        noSeq: false,
        formats: {
          httpStream: { action: 'send', content: Buffer.from('x') },
          wsMessage: { action: 'send', type: 'text', content: Buffer.from('y') },
        },
      },
    ],
    [
      'http-response defaults: code 200 and its reason, no headers',
      { channel: 'c', formats: { 'http-response': { body: 'hi\n' } } },
      {
        channel: 'c',
        noSeq: false,
        formats: {
          httpResponse: {
            action: 'send',
            code: 200,
            reason: 'OK',
            headers: [],
            body: Buffer.from('hi\n'),
          },
        },
      },
    ],
    [
      'http-response code with its standard reason, headers object without Grip-*',
      {
        channel: 'c',
        formats: {
          'http-response': {
            code: 404,
            headers: { 'Content-Type': 'text/plain', 'Grip-Hold': 'stream' },
            body: '',
          },
        },
      },
      {
        channel: 'c',
        noSeq: false,
        formats: {
          httpResponse: {
            action: 'send',
            code: 404,
            reason: 'Not Found',
            headers: [['Content-Type', 'text/plain']],
            body: Buffer.alloc(0),
          },
        },
      },
    ],
    [
      'a decimal string code, as js-grip 4 sends it and Pushpin converts it',
      { channel: 'c', formats: { 'http-response': { code: '201', body: '' } } },
      {
        channel: 'c',
        noSeq: false,
        formats: {
          httpResponse: {
            action: 'send',
            code: 201,
            reason: 'Created',
            headers: [],
            body: Buffer.alloc(0),
          },
        },
      },
    ],
    [
      'http-response headers as pairs, repeated names kept, given reason, body-bin',
      {
        channel: 'c',
        formats: {
          'http-response': {
            code: 299,
            reason: 'Fine',
            headers: [
              ['Set-Cookie', 'a=1'],
              ['Set-Cookie', 'b=2'],
              ['grip-channel', 'x'],
            ],
            'body-bin': 'AAE=',
            body: 'ignored',
          },
        },
      },
      {
        channel: 'c',
        noSeq: false,
        formats: {
          httpResponse: {
            action: 'send',
            code: 299,
            reason: 'Fine',
            headers: [
              ['Set-Cookie', 'a=1'],
              ['Set-Cookie', 'b=2'],
            ],
            body: Buffer.from([0, 1]),
          },
        },
      },
    ],
    [
      'an unknown code gets Pushpin\'s "Undefined Reason"',
      { channel: 'c', formats: { 'http-response': { code: 799, body: '' } } },
      {
        channel: 'c',
        noSeq: false,
        formats: {
          httpResponse: {
            action: 'send',
            code: 799,
            reason: 'Undefined Reason',
            headers: [],
            body: Buffer.alloc(0),
          },
        },
      },
    ],
    [
      'body wins over body-patch',
      { channel: 'c', formats: { 'http-response': { body: 'b', 'body-patch': [] } } },
      {
        channel: 'c',
        noSeq: false,
        formats: {
          httpResponse: {
            action: 'send',
            code: 200,
            reason: 'OK',
            headers: [],
            body: Buffer.from('b'),
          },
        },
      },
    ],
    [
      'hint and close need no content',
      {
        channel: 'c',
        formats: { 'http-response': { action: 'hint' }, 'http-stream': { action: 'close' } },
      },
      {
        channel: 'c',
        noSeq: false,
        formats: {
          httpResponse: {
            action: 'hint',
            code: 200,
            reason: 'OK',
            headers: [],
            body: Buffer.alloc(0),
          },
          httpStream: { action: 'close', content: Buffer.alloc(0) },
        },
      },
    ],
    [
      'ws-message content-bin defaults to binary',
      { channel: 'c', formats: { 'ws-message': { 'content-bin': 'AAEC' } } },
      {
        channel: 'c',
        noSeq: false,
        formats: { wsMessage: { action: 'send', type: 'binary', content: Buffer.from([0, 1, 2]) } },
      },
    ],
    [
      'ws-message ping without content',
      { channel: 'c', formats: { 'ws-message': { type: 'ping' } } },
      {
        channel: 'c',
        noSeq: false,
        formats: { wsMessage: { action: 'send', type: 'ping', content: Buffer.alloc(0) } },
      },
    ],
    [
      'ws-message close with code and reason',
      {
        channel: 'c',
        formats: { 'ws-message': { action: 'close', code: 4001, reason: 'kicked' } },
      },
      {
        channel: 'c',
        noSeq: false,
        formats: {
          wsMessage: {
            action: 'close',
            type: 'text',
            content: Buffer.alloc(0),
            code: 4001,
            reason: 'kicked',
          },
        },
      },
    ],
    [
      'ws-message close without code',
      { channel: 'c', formats: { 'ws-message': { action: 'close' } } },
      {
        channel: 'c',
        noSeq: false,
        formats: { wsMessage: { action: 'close', type: 'text', content: Buffer.alloc(0) } },
      },
    ],
    [
      'ws-message refresh and content-filters on a format',
      {
        channel: 'c',
        formats: {
          'ws-message': { action: 'refresh' },
          'http-stream': { content: 'x', 'content-filters': ['var-subst'] },
        },
      },
      {
        channel: 'c',
        noSeq: false,
        formats: {
          wsMessage: { action: 'refresh', type: 'text', content: Buffer.alloc(0) },
          httpStream: { action: 'send', content: Buffer.from('x'), contentFilters: ['var-subst'] },
        },
      },
    ],
    [
      'http-response body-patch, kept as operations with an empty body',
      {
        channel: 'c',
        formats: { 'http-response': { 'body-patch': [{ op: 'replace', path: '/n', value: 2 }] } },
      },
      {
        channel: 'c',
        noSeq: false,
        formats: {
          httpResponse: {
            action: 'send',
            code: 200,
            reason: 'OK',
            headers: [],
            body: Buffer.alloc(0),
            bodyPatch: [{ op: 'replace', path: '/n', value: 2 }],
          },
        },
      },
    ],
    [
      'unknown format names ignored',
      { channel: 'c', formats: { 'x-other': {} } },
      { channel: 'c', noSeq: false, formats: {} },
    ],
    [
      'the js-grip close shape (close with empty content)',
      { channel: 'c', formats: { 'http-stream': { action: 'close', content: '' } } },
      {
        channel: 'c',
        noSeq: false,
        formats: { httpStream: { action: 'close', content: Buffer.alloc(0) } },
      },
    ],
  ];
  it.each(cases)('parses %s', (_name, input, expected) => {
    expect(jsonItem(input)).toEqual(expected);
  });

  it('uses the channel override instead of the item channel', () => {
    expect(jsonItem({ channel: 'ignored', formats: stream }, 'topic').channel).toBe('topic');
    expect(jsonItem({ formats: stream }, 'topic').channel).toBe('topic');
  });
});

describe('one tnetstring item (ZeroMQ T payload)', () => {
  const tn = (value: TnetInput): Buffer => encodeTnetstring(value);

  it('parses raw byte content without Base64', () => {
    const item = tnetItem(
      tn({
        channel: 'c',
        id: 'i1',
        'no-seq': true,
        meta: { sender: 'bob' },
        formats: {
          'http-stream': { content: Buffer.from([0, 0xff]) },
          'http-response': { code: 201, headers: [['X-A', 'b']], body: 'made' },
        },
      }),
    );
    expect(item).toEqual({
      channel: 'c',
      id: 'i1',
      noSeq: true,
      meta: { sender: 'bob' },
      formats: {
        httpStream: { action: 'send', content: Buffer.from([0, 0xff]) },
        httpResponse: {
          action: 'send',
          code: 201,
          reason: 'Created',
          headers: [['X-A', 'b']],
          body: Buffer.from('made'),
        },
      },
    });
  });

  it('reads a body-patch of byte strings as text (pushpin-publish --patch over ZeroMQ)', () => {
    const item = tnetItem(
      tn({
        channel: 'c',
        formats: {
          'http-response': {
            'body-patch': [
              { op: 'replace', path: '/n', value: 2 },
              { op: 'add', path: '/tags/-', value: 'new' },
            ],
          },
        },
      }),
    );
    expect(item.formats.httpResponse!.bodyPatch).toEqual([
      { op: 'replace', path: '/n', value: 2 },
      { op: 'add', path: '/tags/-', value: 'new' },
    ]);
    expect(() =>
      tnetItem(
        tn({
          channel: 'c',
          formats: {
            'http-response': {
              'body-patch': [{ op: 'add', path: '/a', value: Buffer.from([0xff]) }],
            },
          },
        }),
      ),
    ).toThrow("'http-response' contains 'body-patch' with a string that is not UTF-8");
  });

  it('takes ws-message content-bin as raw bytes', () => {
    const item = tnetItem(
      tn({ channel: 'c', formats: { 'ws-message': { 'content-bin': Buffer.from([1, 2]) } } }),
    );
    expect(item.formats.wsMessage).toEqual({
      action: 'send',
      type: 'binary',
      content: Buffer.from([1, 2]),
    });
  });

  const errors: [string, TnetInput, string][] = [
    [
      'http-stream content-bin is not honoured',
      { channel: 'c', formats: { 'http-stream': { 'content-bin': 'AAE=' } } },
      "Invalid format: 'http-stream' does not contain 'content'",
    ],
    [
      'http-response body-bin is not honoured',
      { channel: 'c', formats: { 'http-response': { 'body-bin': 'AAE=' } } },
      "Invalid format: 'http-response' does not contain 'body' or 'body-patch'",
    ],
    [
      'no-seq must be a real boolean',
      { channel: 'c', formats: { 'http-stream': { content: '' } }, 'no-seq': 'true' },
      "Invalid format: publish item object contains 'no-seq' with wrong type",
    ],
    ['an item that is a list', ['x'], 'Invalid format: publish item object is not an object'],
  ];
  it.each(errors)('rejects: %s', (_name, value, message) => {
    expect(errorOf(() => tnetItem(tn(value)))).toBe(message);
  });

  it('rejects malformed tnetstring bytes as a PublishFormatError', () => {
    expect(errorOf(() => tnetItem(Buffer.from('9:abc,')))).toBe(
      'received message with invalid format (tnetstring parse failed)',
    );
  });
});

describe('parsePublishMessage (ZeroMQ payloads)', () => {
  const item = { channel: 'c', formats: { 'http-stream': { content: 'hi\n' } } };
  const expected = {
    channel: 'c',
    noSeq: false,
    formats: { httpStream: { action: 'send', content: Buffer.from('hi\n') } },
  };

  it('parses J + JSON', () => {
    expect(parsePublishMessage(Buffer.from('J' + JSON.stringify(item)))).toEqual(expected);
  });

  it('parses T + tnetstring', () => {
    expect(parsePublishMessage(Buffer.concat([Buffer.from('T'), encodeTnetstring(item)]))).toEqual(
      expected,
    );
  });

  it('parses a bare tnetstring', () => {
    expect(parsePublishMessage(encodeTnetstring(item))).toEqual(expected);
  });

  it('applies the SUB topic as channel override', () => {
    expect(parsePublishMessage(Buffer.from('J' + JSON.stringify(item)), 'topic').channel).toBe(
      'topic',
    );
  });

  const errors: [string, Buffer, string][] = [
    ['bad JSON', Buffer.from('J{'), 'received message with invalid format (json parse failed)'],
    [
      'JSON array',
      Buffer.from('J[]'),
      'received message with invalid format (not a valid json object)',
    ],
    [
      'garbage',
      Buffer.from('hello'),
      'received message with invalid format (tnetstring parse failed)',
    ],
    [
      'empty frame',
      Buffer.alloc(0),
      'received message with invalid format (tnetstring parse failed)',
    ],
    [
      'invalid item',
      Buffer.from('J{"formats":{}}'),
      "Invalid format: publish item object does not contain 'channel'",
    ],
  ];
  it.each(errors)('rejects %s', (_name, frame, message) => {
    expect(errorOf(() => parsePublishMessage(frame))).toBe(message);
  });
});

/*
 * Where Pushpin takes what breaks clients or reaches them mangled (it decodes Base64
 * leniently, sends any close code modulo 2^16 and any ping size, and replaces bad UTF-8),
 * thumbtack refuses the publish and names the field.
 */
describe('parsePublishBody refuses what would break or mangle a delivery', () => {
  const ws = (format: Record<string, unknown>): Buffer =>
    one({ channel: 'c', formats: { 'ws-message': format } });
  const closeCodeError =
    "Invalid format: 'ws-message' contains 'code' with invalid value (close codes a client accepts: 1000-1003, 1007-1014, 3000-4999)";
  const raw = (...parts: (string | number[])[]): Buffer =>
    Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p) : Buffer.from(p))));
  const cases: [string, Buffer, string][] = [
    [
      'ping payload over 125 bytes',
      ws({ type: 'ping', content: 'p'.repeat(126) }),
      "Invalid format: 'ws-message' contains 'content' longer than 125 bytes, the most a ping carries",
    ],
    [
      'pong payload over 125 bytes, as content-bin',
      ws({ type: 'pong', 'content-bin': Buffer.alloc(126).toString('base64') }),
      "Invalid format: 'ws-message' contains 'content-bin' longer than 125 bytes, the most a pong carries",
    ],
    [
      'close reason over 123 bytes (124 in UTF-8: 62 two-byte letters)',
      ws({ action: 'close', code: 4000, reason: 'é'.repeat(62) }),
      "Invalid format: 'ws-message' contains 'reason' longer than 123 bytes (a close frame's limit)",
    ],
    ['close code 70000 (4464 modulo 2^16)', ws({ action: 'close', code: 70000 }), closeCodeError],
    ['close code 0', ws({ action: 'close', code: 0 }), closeCodeError],
    ['close code 999', ws({ action: 'close', code: 999 }), closeCodeError],
    ['close code 1004 (reserved)', ws({ action: 'close', code: 1004 }), closeCodeError],
    [
      'close code 1005 (no status, never sent)',
      ws({ action: 'close', code: 1005 }),
      closeCodeError,
    ],
    ['close code 1006 (abnormal, never sent)', ws({ action: 'close', code: 1006 }), closeCodeError],
    [
      'close code 1015 (TLS failure, never sent)',
      ws({ action: 'close', code: 1015 }),
      closeCodeError,
    ],
    ['close code 2999', ws({ action: 'close', code: 2999 }), closeCodeError],
    ['close code 5000', ws({ action: 'close', code: 5000 }), closeCodeError],
    ['close code "70000" as a string', ws({ action: 'close', code: '70000' }), closeCodeError],
    [
      'text message whose content-bin is not UTF-8',
      ws({ type: 'text', 'content-bin': Buffer.from([0x68, 0xff, 0x69]).toString('base64') }),
      "Invalid format: 'ws-message' contains 'content-bin' that is not valid UTF-8",
    ],
    [
      'text message with a lone surrogate escape',
      raw('{"items":[{"channel":"c","formats":{"ws-message":{"content":"a\\ud800b"}}}]}'),
      "Invalid format: 'ws-message' contains 'content' that is not valid UTF-8",
    ],
    [
      'http-stream content with a lone surrogate escape',
      raw('{"items":[{"channel":"c","formats":{"http-stream":{"content":"\\udc00"}}}]}'),
      "Invalid format: 'http-stream' contains 'content' that is not valid UTF-8",
    ],
    [
      'http-response reason with a lone surrogate escape',
      raw('{"items":[{"channel":"c","formats":{"http-response":{"reason":"\\ud800","body":""}}}]}'),
      "Invalid format: 'http-response' contains 'reason' that is not valid UTF-8",
    ],
    [
      'content-bin with a character outside Base64',
      one({ channel: 'c', formats: { 'http-stream': { 'content-bin': 'AA*=' } } }),
      "Invalid format: 'http-stream' contains 'content-bin' that is not valid Base64",
    ],
    [
      'content-bin with whitespace',
      one({ channel: 'c', formats: { 'http-stream': { 'content-bin': 'AAEC AwQF' } } }),
      "Invalid format: 'http-stream' contains 'content-bin' that is not valid Base64",
    ],
    [
      'content-bin in the URL-safe alphabet',
      ws({ 'content-bin': '-_-_' }),
      "Invalid format: 'ws-message' contains 'content-bin' that is not valid Base64",
    ],
    [
      'content-bin with a length no Base64 has',
      ws({ 'content-bin': 'AAECA' }),
      "Invalid format: 'ws-message' contains 'content-bin' that is not valid Base64",
    ],
    [
      'body-bin with padding in the middle',
      one({ channel: 'c', formats: { 'http-response': { 'body-bin': 'AA==AA==' } } }),
      "Invalid format: 'http-response' contains 'body-bin' that is not valid Base64",
    ],
    [
      'a body whose bytes are not UTF-8, named by field',
      raw('{"items":[{"channel":"c","formats":{"ws-message":{"content":"h', [0xff], 'i"}}}]}'),
      "Invalid format: 'ws-message' contains 'content' that is not valid UTF-8",
    ],
    [
      'a one-item body not UTF-8 in its channel, named without an index',
      raw('{"items":[{"channel":"c', [0xff], '","formats":{"http-stream":{"content":"x"}}}]}'),
      "Invalid format: 'channel' is not valid UTF-8",
    ],
    [
      'a body not UTF-8 in the second item channel',
      raw(
        '{"items":[{"channel":"a","formats":{"http-stream":{"content":"x"}}},',
        '{"channel":"b',
        [0xc3, 0x28],
        '","formats":{"http-stream":{"content":"x"}}}]}',
      ),
      "Invalid format: item 1: 'channel' is not valid UTF-8",
    ],
    [
      'a body not UTF-8 outside the items',
      raw('{"note":"', [0xfe], '","items":[]}'),
      "Invalid format: 'note' is not valid UTF-8",
    ],
    [
      'a body not UTF-8 that also spells U+FFFD (the bad bytes cannot be told apart)',
      raw(
        '{"items":[{"channel":"\\ufffd',
        [0xff],
        '","formats":{"http-stream":{"content":"x"}}}]}',
      ),
      'Body is not valid UTF-8.',
    ],
  ];
  it.each(cases)('%s', (_name, input, message) => {
    expect(errorOf(() => parsePublishBody(input))).toBe(message);
  });
});

describe('parsePublishBody still accepts the edges of those rules', () => {
  const wsFormat = (format: Record<string, unknown>) =>
    parsePublishBody(one({ channel: 'c', formats: { 'ws-message': format } }))[0]!.formats
      .wsMessage!;
  const closeCodes = [1000, 1003, 1007, 1011, 1012, 1014, 3000, 4999];
  it.each(closeCodes)('close code %i', (code) => {
    expect(wsFormat({ action: 'close', code }).code).toBe(code);
  });

  it('a close reason of exactly 123 bytes', () => {
    expect(wsFormat({ action: 'close', code: 4000, reason: 'r'.repeat(123) }).reason).toHaveLength(
      123,
    );
  });

  it('a ping or pong of exactly 125 bytes', () => {
    expect(wsFormat({ type: 'ping', content: 'p'.repeat(125) }).content).toHaveLength(125);
    const bin = Buffer.alloc(125, 7).toString('base64');
    expect(wsFormat({ type: 'pong', 'content-bin': bin }).content).toEqual(Buffer.alloc(125, 7));
  });

  it('a binary message of any bytes, and text content-bin that is UTF-8', () => {
    const bytes = Buffer.from([0xff, 0xfe, 0]);
    expect(wsFormat({ 'content-bin': bytes.toString('base64') })).toMatchObject({
      type: 'binary',
      content: bytes,
    });
    const text = Buffer.from('héllo 😀');
    expect(wsFormat({ type: 'text', 'content-bin': text.toString('base64') }).content).toEqual(
      text,
    );
  });

  const base64: [string, Buffer][] = [
    ['', Buffer.alloc(0)],
    ['AA==', Buffer.from([0])],
    ['AA', Buffer.from([0])],
    ['AAE=', Buffer.from([0, 1])],
    ['AAE', Buffer.from([0, 1])],
    ['AAEC', Buffer.from([0, 1, 2])],
    ['+/+/', Buffer.from('+/+/', 'base64')],
  ];
  it.each(base64)('Base64 %j, padded or not', (text, bytes) => {
    const item = parsePublishBody(
      one({ channel: 'c', formats: { 'http-stream': { 'content-bin': text } } }),
    )[0]!;
    expect(item.formats.httpStream!.content).toEqual(bytes);
  });

  it('surrogate pairs and U+FFFD itself, escaped or not', () => {
    const item = parsePublishBody(
      Buffer.from(
        '{"items":[{"channel":"\\ud83d\\ude00\uFFFD","formats":{"http-stream":{"content":"\\ufffd"}}}]}',
      ),
    )[0]!;
    expect(item.channel).toBe('😀\uFFFD');
    expect(item.formats.httpStream!.content).toEqual(Buffer.from('\uFFFD'));
  });
});

describe('ZeroMQ payloads get the same checks', () => {
  it('a tnetstring text message must be UTF-8; binary and HTTP content need not', () => {
    const bad = Buffer.from([0x61, 0xff]);
    expect(
      errorOf(() =>
        tnetItem(encodeTnetstring({ channel: 'c', formats: { 'ws-message': { content: bad } } })),
      ),
    ).toBe("Invalid format: 'ws-message' contains 'content' that is not valid UTF-8");
    const item = tnetItem(
      encodeTnetstring({
        channel: 'c',
        formats: {
          'ws-message': { type: 'binary', content: bad },
          'http-stream': { content: bad },
        },
      }),
    );
    expect(item.formats.wsMessage!.content).toEqual(bad);
    expect(item.formats.httpStream!.content).toEqual(bad);
  });

  it('a tnetstring channel must be UTF-8', () => {
    expect(
      errorOf(() =>
        tnetItem(
          encodeTnetstring({
            channel: Buffer.from([0xff]),
            formats: { 'http-stream': { content: 'x' } },
          }),
        ),
      ),
    ).toBe("Invalid format: publish item object contains 'channel' that is not valid UTF-8");
  });

  it('a J+JSON frame that is not UTF-8 names the field', () => {
    const frame = Buffer.concat([
      Buffer.from('J{"channel":"c","formats":{"ws-message":{"content":"'),
      Buffer.from([0xff]),
      Buffer.from('"}}}'),
    ]);
    expect(errorOf(() => parsePublishMessage(frame))).toBe(
      "Invalid format: 'formats.ws-message.content' is not valid UTF-8",
    );
  });

  it('a J+JSON ping over 125 bytes', () => {
    const frame = Buffer.from(
      'J' +
        JSON.stringify({
          channel: 'c',
          formats: { 'ws-message': { type: 'ping', content: 'x'.repeat(200) } },
        }),
    );
    expect(errorOf(() => parsePublishMessage(frame))).toMatch(/longer than 125 bytes/);
  });
});
