import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  ConfigError,
  GripInstructError,
  PublishFormatError,
  RoutesSyntaxError,
  TnetstringError,
  WsControlError,
  WsEventsError,
} from '../../../src/errors.js';
import { loadSettings } from '../../../src/config/load.js';
import { BodyPatchError } from '../../../src/errors.js';
import { applyBodyPatch, bodyPatchProblem } from '../../../src/grip/body-patch.js';
import { substituteVariables } from '../../../src/grip/filters.js';
import {
  decodeHeaderText,
  encodeHeaderText,
  parseHeaderInteger,
  parseHeaderParts,
  splitHeaderValues,
} from '../../../src/grip/header-params.js';
import { buildId } from '../../../src/grip/id-format.js';
import { parseInstruction } from '../../../src/grip/instruct.js';
import { decodeCString, encodeCString, parseGripKeepAlive } from '../../../src/grip/keep-alive.js';
import { parsePublishBody, parsePublishMessage } from '../../../src/grip/publish-item.js';
import {
  decodeTnetstring,
  encodeTnetstring,
  type TnetValue,
} from '../../../src/grip/tnetstring.js';
import { parseGripExtension, parseWsControlMessage } from '../../../src/grip/ws-control.js';
import {
  decodeCloseContent,
  decodeWsEvents,
  encodeCloseContent,
  encodeWsEvents,
  type WsEvent,
} from '../../../src/grip/ws-events.js';
import { parseKeepAliveInterval } from '../../../src/grip/ws-over-http.js';
import { parseRoutes } from '../../../src/routes/parse.js';

/*
 * Property tests (issue 16): every codec, given arbitrary input, returns a value or throws
 * its own typed error, never anything else (a TypeError, a RangeError, a stack overflow);
 * encoders and decoders round-trip. A fixed seed keeps `npm test` deterministic;
 * FUZZ_RUNS raises the runs per property for a longer search (FUZZ_SEED picks another seed).
 */

const runs = Number(process.env.FUZZ_RUNS ?? 3000);
const seed = Number(process.env.FUZZ_SEED ?? 20261206);
const params = { numRuns: runs, seed };

/** Runs `parse`, and fails unless it returned or threw an instance of `errorClass`. */
function returnsOrThrows(
  errorClass: abstract new (...args: never[]) => Error,
  parse: () => unknown,
) {
  try {
    parse();
  } catch (err) {
    if (!(err instanceof errorClass)) throw err;
  }
}

/** Bytes biased toward the characters the formats care about. */
const wireBytes = fc.oneof(
  fc.uint8Array({ maxLength: 200 }),
  fc
    .array(fc.constantFrom(...'0123456789:,;=#]}~ TEXTOPENCLOSE\r\n"\\{}[]%()sI'), {
      maxLength: 120,
    })
    .map((chars) => Uint8Array.from(Buffer.from(chars.join(''), 'latin1'))),
);
const wireText = fc.oneof(
  fc.string({ maxLength: 120 }),
  fc.string({ unit: 'binary', maxLength: 60 }),
  fc
    .array(fc.constantFrom(...'abc019;,="\\ <>/-_.'), { maxLength: 80 })
    .map((chars) => chars.join('')),
);

const tnetValue: fc.Arbitrary<TnetValue> = fc.letrec<{ value: TnetValue }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small' },
    fc.constant(null),
    fc.boolean(),
    fc.integer(),
    fc.uint8Array({ maxLength: 40 }).map((bytes) => Buffer.from(bytes)),
    fc.array(tie('value'), { maxLength: 4 }),
    fc.dictionary(fc.string({ maxLength: 8 }), tie('value'), { maxKeys: 4 }),
  ),
})).value;

describe('codec properties (fixed seed)', () => {
  it('tnetstring: decode(encode(x)) is x', () => {
    fc.assert(
      fc.property(tnetValue, (value) => {
        expect(decodeTnetstring(encodeTnetstring(value))).toEqual(value);
      }),
      params,
    );
  });

  it('body-patch: well-formed operations on any held body apply or throw BodyPatchError', () => {
    const pointer = fc
      .array(fc.constantFrom('a', 'b', '0', '1', '-', '~0', '~1', '__proto__'), { maxLength: 3 })
      .map((parts) => parts.map((part) => '/' + part).join(''));
    const operation = fc.record({
      op: fc.constantFrom('add', 'remove', 'replace', 'move', 'copy', 'test', '_get'),
      path: pointer,
      from: pointer,
      value: fc.jsonValue({ maxDepth: 2 }),
    });
    const body = fc.oneof(
      fc.jsonValue({ maxDepth: 3 }).map((value) => Buffer.from(JSON.stringify(value) + '\n')),
      wireBytes.map((bytes) => Buffer.from(bytes)),
    );
    fc.assert(
      fc.property(body, fc.array(operation, { maxLength: 4 }), (held, operations) => {
        if (bodyPatchProblem(operations) !== undefined) return;
        returnsOrThrows(BodyPatchError, () => applyBodyPatch(held, operations));
      }),
      params,
    );
  });

  it('tnetstring: any bytes decode or throw TnetstringError', () => {
    fc.assert(
      fc.property(wireBytes, (bytes) =>
        returnsOrThrows(TnetstringError, () => decodeTnetstring(Buffer.from(bytes))),
      ),
      params,
    );
  });

  it('WebSocket events: decode(encode(events)) is the events', () => {
    const event: fc.Arbitrary<WsEvent> = fc.oneof(
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
    fc.assert(
      fc.property(fc.array(event, { maxLength: 8 }), (events) => {
        expect(decodeWsEvents(encodeWsEvents(events))).toEqual(events);
      }),
      params,
    );
  });

  it('WebSocket events: any bytes decode or throw WsEventsError', () => {
    fc.assert(
      fc.property(wireBytes, (bytes) =>
        returnsOrThrows(WsEventsError, () => decodeWsEvents(Buffer.from(bytes))),
      ),
      params,
    );
  });

  it('close content: a code and a reason round-trip', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1000, max: 4999 }),
        fc.string({ maxLength: 60 }),
        (code, reason) => {
          expect(decodeCloseContent(encodeCloseContent(code, reason))).toEqual({ code, reason });
        },
      ),
      params,
    );
  });

  it('publish bodies: any bytes or JSON parse or throw PublishFormatError', () => {
    const json = fc
      .jsonValue({ maxDepth: 5 })
      .map((value) => Buffer.from(JSON.stringify({ items: [value] })));
    fc.assert(
      fc.property(
        fc.oneof(
          wireBytes.map((b) => Buffer.from(b)),
          json,
        ),
        (body) => returnsOrThrows(PublishFormatError, () => parsePublishBody(body)),
      ),
      params,
    );
  });

  it('ZeroMQ publish messages: any frame parses or throws PublishFormatError or TnetstringError', () => {
    const frame = fc.oneof(
      wireBytes.map((b) => Buffer.concat([Buffer.from('J'), Buffer.from(b)])),
      wireBytes.map((b) => Buffer.concat([Buffer.from('T'), Buffer.from(b)])),
      tnetValue.map((v) => Buffer.concat([Buffer.from('T'), encodeTnetstring(v)])),
      fc.jsonValue({ maxDepth: 4 }).map((v) => Buffer.from('J' + JSON.stringify(v))),
    );
    fc.assert(
      fc.property(frame, (bytes) => {
        try {
          parsePublishMessage(bytes);
        } catch (err) {
          if (!(err instanceof PublishFormatError) && !(err instanceof TnetstringError)) throw err;
        }
      }),
      params,
    );
  });

  it('GRIP instructions: any Grip-* headers and instruct body parse or throw GripInstructError', () => {
    const gripHeader = fc.tuple(
      fc.constantFrom(
        'Grip-Hold',
        'Grip-Channel',
        'Grip-Timeout',
        'Grip-Keep-Alive',
        'Grip-Set-Meta',
        'Grip-Status',
        'Grip-Link',
        'Grip-Expose-Headers',
        'Content-Encoding',
      ),
      wireText,
    );
    const instructBody = fc.oneof(
      fc.jsonValue({ maxDepth: 5 }).map((v) => JSON.stringify(v)),
      fc
        .record(
          { hold: fc.jsonValue({ maxDepth: 3 }), response: fc.jsonValue({ maxDepth: 3 }) },
          { requiredKeys: [] },
        )
        .map((v) => JSON.stringify(v)),
      wireText,
    );
    fc.assert(
      fc.property(
        fc.array(gripHeader, { maxLength: 6 }),
        fc.boolean(),
        instructBody,
        (headers, isInstruct, body) =>
          returnsOrThrows(GripInstructError, () =>
            parseInstruction(
              {
                code: 200,
                reason: 'OK',
                headers: isInstruct
                  ? [['Content-Type', 'application/grip-instruct'], ...headers]
                  : headers,
                body: Buffer.from(body),
              },
              { subscriptionMax: 20 },
            ),
          ),
      ),
      params,
    );
  });

  it('Grip-Keep-Alive: any value parses or throws GripInstructError', () => {
    fc.assert(
      fc.property(wireText, (value) =>
        returnsOrThrows(GripInstructError, () => parseGripKeepAlive(value)),
      ),
      params,
    );
  });

  it('cstring keep-alive data round-trips (empty data is refused by design)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 1, maxLength: 60 }), (bytes) => {
        expect([...decodeCString(encodeCString(Buffer.from(bytes)))]).toEqual([...bytes]);
      }),
      params,
    );
  });

  it('header parameters: any values split and parse without throwing', () => {
    fc.assert(
      fc.property(fc.array(wireText, { maxLength: 4 }), (values) => {
        splitHeaderValues(values);
        parseHeaderParts(values);
        for (const value of values) parseHeaderInteger(value);
        parseKeepAliveInterval(values.map((v) => ['Keep-Alive-Interval', v]));
        parseGripExtension(values);
      }),
      params,
    );
  });

  it('header text: decode(encode(text)) is the text', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 60 }), (text) => {
        expect(decodeHeaderText(encodeHeaderText(text))).toBe(text);
      }),
      params,
    );
  });

  it('WebSocket control messages: any text parses or throws WsControlError', () => {
    const control = fc.oneof(
      wireText,
      fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify(v)),
      fc
        .record(
          {
            type: fc.constantFrom(
              'subscribe',
              'unsubscribe',
              'detach',
              'session',
              'set-meta',
              'keep-alive',
              'x',
            ),
            channel: fc.jsonValue({ maxDepth: 1 }),
            name: fc.jsonValue({ maxDepth: 1 }),
            value: fc.jsonValue({ maxDepth: 1 }),
            filters: fc.jsonValue({ maxDepth: 2 }),
            content: fc.jsonValue({ maxDepth: 1 }),
            'content-bin': fc.jsonValue({ maxDepth: 1 }),
            timeout: fc.jsonValue({ maxDepth: 1 }),
            mode: fc.jsonValue({ maxDepth: 1 }),
          },
          { requiredKeys: ['type'] },
        )
        .map((v) => JSON.stringify(v)),
    );
    fc.assert(
      fc.property(control, (text) =>
        returnsOrThrows(WsControlError, () => parseWsControlMessage(text)),
      ),
      params,
    );
  });

  it('content filters: var-subst and build-id return content or an error message, never throw', () => {
    const vars = fc.dictionary(fc.string({ maxLength: 6 }), fc.string({ maxLength: 10 }), {
      maxKeys: 3,
    });
    fc.assert(
      fc.property(wireBytes, vars, (bytes, meta) => {
        substituteVariables(Buffer.from(bytes), meta);
        buildId(Buffer.from(bytes), meta, { get: (name: string) => meta[name] });
      }),
      params,
    );
  });

  it('routes files: any text parses or throws RoutesSyntaxError', () => {
    const line = fc.oneof(
      wireText,
      fc
        .array(
          fc.constantFrom(
            '*',
            'example.com',
            'path_beg=/x',
            'ssl=yes',
            'id=a',
            'prefix=p',
            'localhost:1',
            '[::1]:2',
            'over_http',
            'sub=c',
            'host=h',
            ',',
            ' ',
          ),
          { maxLength: 8 },
        )
        .map((parts) => parts.join('')),
    );
    fc.assert(
      fc.property(fc.array(line, { maxLength: 4 }), (lines) =>
        returnsOrThrows(RoutesSyntaxError, () => parseRoutes(lines.join('\n'), 'routes')),
      ),
      params,
    );
  });

  it('settings: any flags and environment load or throw ConfigError', () => {
    const flag = fc.oneof(
      fc.constantFrom(
        '--port',
        '--control-port',
        '--workers',
        '--backend-timeout',
        '--log-level',
        '--zmq-pull',
        '--x-forwarded-for',
        '--trusted-proxies',
        '--publish-body-max',
        '--ws-retry-delay',
        '--bogus',
      ),
      wireText,
    );
    fc.assert(
      fc.property(
        fc.array(flag, { maxLength: 6 }),
        fc.dictionary(
          fc.constantFrom('THUMBTACK_PORT', 'THUMBTACK_DRAIN_TIMEOUT', 'THUMBTACK_LOG_LEVEL'),
          wireText,
        ),
        (argv, env) =>
          returnsOrThrows(ConfigError, () =>
            loadSettings(['--routes', 'config/routes', ...argv], env),
          ),
      ),
      { ...params, numRuns: Math.min(runs, 500) },
    );
  });
});
