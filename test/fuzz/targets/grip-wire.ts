import fc from 'fast-check';
import { PublishFormatError, TnetstringError, WsEventsError } from '../../../src/errors.js';
import { parsePublishBody, parsePublishMessage } from '../../../src/grip/publish-item.js';
import {
  decodeTnetstring,
  encodeTnetstring,
  type TnetInput,
  type TnetValue,
} from '../../../src/grip/tnetstring.js';
import {
  decodeCloseContent,
  decodeWsEvents,
  encodeCloseContent,
  encodeWsEvents,
  type WsEvent,
} from '../../../src/grip/ws-events.js';
import {
  defineTarget,
  expectEqual,
  ensure,
  mutated,
  returnsOrThrows,
  wireBytes,
} from '../target.js';

/* Byte formats: tnetstrings, WebSocket-over-HTTP events, publish items (HTTP and ZeroMQ). */

const tnetValue: fc.Arbitrary<TnetValue> = fc.letrec<{ value: TnetValue }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small' },
    fc.constant(null),
    fc.boolean(),
    fc.integer(),
    fc.maxSafeInteger(),
    // Beyond the safe range integers decode as bigints.
    fc.bigInt().filter((n) => !Number.isSafeInteger(Number(n))),
    // tnetstring has no -0: it reads back as 0.
    fc.double({ noNaN: true, noDefaultInfinity: true }).map((x) => (x === 0 ? 0 : x)),
    fc.uint8Array({ maxLength: 40 }).map((bytes) => Buffer.from(bytes)),
    fc.array(tie('value'), { maxLength: 4 }),
    fc.dictionary(fc.string({ maxLength: 8 }), tie('value'), { maxKeys: 4 }),
  ),
})).value;

const wsEvent: fc.Arbitrary<WsEvent> = fc.oneof(
  fc.record({
    type: fc.constantFrom('TEXT' as const, 'BINARY' as const),
    content: fc.uint8Array({ maxLength: 60 }).map((b) => Buffer.from(b)),
  }),
  fc.record({
    type: fc.constantFrom('PING' as const, 'PONG' as const, 'CLOSE' as const),
    content: fc.uint8Array({ minLength: 1, maxLength: 30 }).map((b) => Buffer.from(b)),
  }),
  fc.record({ type: fc.constantFrom('OPEN' as const, 'DISCONNECT' as const) }),
);

function withoutEmpty(event: WsEvent): WsEvent {
  const isMessage = event.type === 'TEXT' || event.type === 'BINARY';
  return isMessage || event.content?.length !== 0 ? event : { type: event.type };
}

/** Publish items close to valid: the fields Pushpin reads, each of a right or a wrong type. */
const loose = fc.oneof(
  { weight: 3, arbitrary: fc.string({ maxLength: 12 }) },
  fc.integer({ min: -2, max: 1200 }),
  fc.constantFrom(null, true, 'send', 'close', 'hint', 'text', 'ping', 'aGk=', '\u00ff', '1000'),
  fc.jsonValue({ maxDepth: 1 }),
);
const format = (fields: string[]) =>
  fc.dictionary(fc.constantFrom(...fields), loose, { maxKeys: 5 });
const publishItem = fc.record(
  {
    channel: fc.oneof(fc.string({ maxLength: 8 }), loose),
    id: loose,
    'prev-id': loose,
    meta: fc.oneof(fc.dictionary(fc.string({ maxLength: 4 }), loose, { maxKeys: 2 }), loose),
    size: loose,
    'no-seq': loose,
    formats: fc.record(
      {
        'http-response': fc.oneof(
          format(['action', 'code', 'reason', 'body', 'body-bin', 'content-filters']),
          fc.record({
            headers: fc.oneof(
              fc.array(fc.tuple(fc.string({ maxLength: 10 }), fc.string({ maxLength: 10 }))),
              fc.dictionary(fc.string({ maxLength: 10 }), loose, { maxKeys: 3 }),
              loose,
            ),
            body: loose,
          }),
          fc.record({ 'body-patch': fc.jsonValue({ maxDepth: 3 }) }),
        ),
        'http-stream': format(['action', 'content', 'content-bin', 'content-filters']),
        'ws-message': format(['action', 'type', 'content', 'content-bin', 'code', 'reason']),
      },
      { requiredKeys: [] },
    ),
  },
  { requiredKeys: [] },
);

/** Same JSON values written as tnetstring input: strings become byte strings. */
function asTnetInput(value: unknown): TnetInput {
  if (typeof value === 'number' && !Number.isSafeInteger(value)) return String(value);
  return value as TnetInput;
}

/** What a parse came to, comparable across inputs: the value, or the error's class. */
function outcome(parse: () => unknown): unknown {
  try {
    return { value: parse() };
  } catch (err) {
    if (err instanceof PublishFormatError) return { error: 'PublishFormatError' };
    throw err;
  }
}

/**
 * An item with a value nested `levels` deep (a body-patch value, a meta value or the whole
 * item list), optionally holding a byte that is not UTF-8: stack depth for every check.
 */
const deepItem = fc
  .tuple(
    fc.integer({ min: 900, max: 12_000 }),
    fc.constantFrom('patch', 'meta', 'items'),
    fc.boolean(),
  )
  .map(([levels, where, isUtf8]) => {
    const inner = Buffer.from(isUtf8 ? '"x"' : '"\xff"', 'latin1');
    const value = Buffer.concat([
      Buffer.from('['.repeat(levels)),
      inner,
      Buffer.from(']'.repeat(levels)),
    ]);
    const [before, after] = {
      patch: [
        '{"channel":"a","formats":{"http-response":{"body-patch":[{"op":"add","path":"/a","value":',
        '}]}}}',
      ],
      meta: ['{"channel":"a","meta":{"m":', '},"formats":{"http-stream":{"content":"x"}}}'],
      items: ['', ''],
    }[where] as [string, string];
    return Buffer.concat([Buffer.from(before), value, Buffer.from(after)]);
  });

export const gripWireTargets = [
  defineTarget({
    name: 'tnetstring-round-trip',
    testRuns: 1000,
    summary: 'tnetstring: decode(encode(x)) is x',
    arbitrary: tnetValue,
    check: (value) => expectEqual(decodeTnetstring(encodeTnetstring(value)), value),
  }),
  defineTarget({
    name: 'tnetstring-decode',
    summary: 'tnetstring: any bytes decode or throw TnetstringError',
    arbitrary: fc.oneof(
      wireBytes,
      mutated(tnetValue.map((v) => encodeTnetstring(v))),
      fc.nat({ max: 3000 }).map((n) => Buffer.from('1:['.repeat(n), 'latin1')),
    ),
    check: (bytes) => {
      returnsOrThrows(TnetstringError, () => decodeTnetstring(bytes));
    },
  }),
  defineTarget({
    name: 'ws-events-round-trip',
    testRuns: 1000,
    summary: 'WebSocket events: decode(encode(events)) is the events',
    arbitrary: fc.array(wsEvent, { maxLength: 8 }),
    check: (events) => expectEqual(decodeWsEvents(encodeWsEvents(events)), events),
  }),
  defineTarget({
    name: 'ws-events-decode',
    summary: 'WebSocket events: any bytes decode or throw WsEventsError',
    arbitrary: fc.oneof(
      wireBytes,
      mutated(fc.array(wsEvent, { maxLength: 6 }).map(encodeWsEvents)),
    ),
    check: (bytes) => {
      const events = returnsOrThrows(WsEventsError, () => decodeWsEvents(bytes));
      // What decodes also re-encodes to the same events, except that the encoder leaves out
      // an empty content part of events other than TEXT and BINARY (as Pushpin does).
      if (events) expectEqual(decodeWsEvents(encodeWsEvents(events)), events.map(withoutEmpty));
    },
  }),
  defineTarget({
    name: 'close-content-round-trip',
    summary: 'close content: any code and reason round-trip',
    arbitrary: fc.tuple(fc.nat({ max: 65535 }), fc.string({ unit: 'grapheme', maxLength: 60 })),
    check: ([code, reason]) =>
      expectEqual(decodeCloseContent(encodeCloseContent(code, reason)), { code, reason }),
  }),
  defineTarget({
    name: 'close-content-decode',
    summary: 'close content: any bytes decode or throw WsEventsError',
    arbitrary: wireBytes,
    check: (bytes) => {
      returnsOrThrows(WsEventsError, () => decodeCloseContent(bytes));
    },
  }),
  defineTarget({
    name: 'publish-body',
    testRuns: 500,
    summary: 'publish bodies: any bytes or items parse or throw PublishFormatError',
    arbitrary: fc.oneof(
      wireBytes,
      fc.jsonValue({ maxDepth: 5 }).map((v) => Buffer.from(JSON.stringify({ items: [v] }))),
      fc
        .array(publishItem, { maxLength: 3 })
        .map((items) => Buffer.from(JSON.stringify({ items }))),
      mutated(publishItem.map((item) => Buffer.from(JSON.stringify({ items: [item] })))),
      deepItem.map((item) => Buffer.concat([Buffer.from('{"items":['), item, Buffer.from(']}')])),
    ),
    check: (body) => {
      const items = returnsOrThrows(PublishFormatError, () => parsePublishBody(body));
      for (const item of items ?? []) {
        ensure(item.channel !== '' && !item.channel.includes('\0'), 'bad channel accepted');
      }
    },
  }),
  defineTarget({
    name: 'publish-message',
    testRuns: 500,
    summary: 'ZeroMQ publish messages: any frame parses or throws PublishFormatError',
    arbitrary: fc.oneof(
      wireBytes.map((b) => Buffer.concat([Buffer.from('J'), b])),
      wireBytes.map((b) => Buffer.concat([Buffer.from('T'), b])),
      tnetValue.map((v) => Buffer.concat([Buffer.from('T'), encodeTnetstring(v)])),
      publishItem.map((v) => Buffer.concat([Buffer.from('T'), encodeTnetstring(tnet(v))])),
      mutated(publishItem.map((v) => Buffer.from('J' + JSON.stringify(v)))),
      fc.jsonValue({ maxDepth: 4 }).map((v) => Buffer.from('J' + JSON.stringify(v))),
      deepItem.map((item) => Buffer.concat([Buffer.from('J'), item])),
    ),
    check: (frame) => {
      // A tnetstring error inside a frame is reported as a publish format error.
      returnsOrThrows(PublishFormatError, () => parsePublishMessage(frame));
    },
  }),
  defineTarget({
    name: 'publish-json-tnet-agree',
    testRuns: 500,
    summary: 'publish items: an item as HTTP body, J frame and T frame parses the same',
    arbitrary: publishItem,
    check: (item) => {
      const body = outcome(
        () => parsePublishBody(Buffer.from(JSON.stringify({ items: [item] })))[0],
      );
      const json = outcome(() => parsePublishMessage(Buffer.from('J' + JSON.stringify(item))));
      expectEqual(json, body);
      // tnetstring has no Base64 fields and no floats as JSON has them: compare the rest.
      if (hasBinOrFloat(item)) return;
      const tnetFrame = Buffer.concat([Buffer.from('T'), encodeTnetstring(tnet(item))]);
      expectEqual(
        outcome(() => parsePublishMessage(tnetFrame)),
        json,
      );
    },
  }),
];

/** A JSON value as tnetstring input (non-integers written as text, as JSON has no other). */
function tnet(value: unknown): TnetInput {
  if (Array.isArray(value)) return value.map(tnet);
  if (typeof value === 'object' && value !== null) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, tnet(v)]));
  }
  return asTnetInput(value);
}

function hasBinOrFloat(value: unknown): boolean {
  if (typeof value === 'number') return !Number.isSafeInteger(value);
  if (typeof value !== 'object' || value === null) return false;
  return Object.entries(value).some(
    ([k, v]) => k.endsWith('-bin') || k === 'body-patch' || hasBinOrFloat(v),
  );
}
