import fc from 'fast-check';
import { GripInstructError, WsControlError } from '../../../src/errors.js';
import { channelNameProblem } from '../../../src/grip/channel-name.js';
import { isSendableCloseCode } from '../../../src/grip/close-code.js';
import { gripLastValues } from '../../../src/grip/grip-last.js';
import {
  headerFieldProblem,
  isGripRequestHeader,
  reasonPhraseProblem,
} from '../../../src/grip/header-field.js';
import {
  decodeHeaderText,
  encodeHeaderText,
  parseHeaderInteger,
  parseHeaderParts,
  splitHeaderValues,
} from '../../../src/grip/header-params.js';
import {
  findStreamHoldProblem,
  isGripRawResponse,
  isGripResponse,
  parseInstruction,
} from '../../../src/grip/instruct.js';
import { decodeCString, encodeCString, parseGripKeepAlive } from '../../../src/grip/keep-alive.js';
import {
  classifyBackendMessage,
  parseGripExtension,
  parseWsControlMessage,
} from '../../../src/grip/ws-control.js';
import {
  applySetMeta,
  isReplayedClientHeader,
  isSwitchingProtocolsHeader,
  isWsEventsResponse,
  parseKeepAliveInterval,
} from '../../../src/grip/ws-over-http.js';
import { MAX_TIMER_SECONDS } from '../../../src/timer-limit.js';
import {
  defineTarget,
  expectEqual,
  ensure,
  returnsOrThrows,
  wireBytes,
  wireText,
} from '../target.js';

/* Header-borne GRIP: instructions, keep-alives, header parameters, WebSocket control. */

const SUBSCRIPTION_MAX = 20;

/** Grip-* values built from the pieces their syntax has, so parsing gets past the first token. */
const gripValue = fc.oneof(
  wireText,
  fc
    .array(
      fc.constantFrom(
        'response',
        'stream',
        'a',
        'ch',
        '; prev-id=1',
        '; filter=skip-self',
        '; filter=build-id',
        '; timeout=5',
        '; timeout=-1',
        '; timeout=99999999999',
        '; rel=next',
        '; rel=gone',
        '; mode=interval',
        '; format=cstring',
        '; format=base64',
        '<http://x/y>',
        '<>',
        '<%zz>',
        ',',
        '"',
        '\\x0',
        '200 OK',
        '\u00e9',
      ),
      { maxLength: 8 },
    )
    .map((parts) => parts.join('')),
);
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
    'X-Other',
  ),
  gripValue,
);
const instructBody = fc.oneof(
  fc.jsonValue({ maxDepth: 5 }).map((v) => JSON.stringify(v)),
  fc
    .record(
      {
        hold: fc.oneof(
          fc.jsonValue({ maxDepth: 3 }),
          fc.record(
            {
              mode: fc.constantFrom('response', 'stream', 'x', 1),
              channels: fc.array(
                fc.record(
                  {
                    name: fc.oneof(fc.string({ maxLength: 6 }), fc.jsonValue({ maxDepth: 0 })),
                    'prev-id': fc.jsonValue({ maxDepth: 0 }),
                    filters: fc.jsonValue({ maxDepth: 1 }),
                  },
                  { requiredKeys: [] },
                ),
                { maxLength: 3 },
              ),
              timeout: fc.jsonValue({ maxDepth: 0 }),
              'keep-alive': fc.jsonValue({ maxDepth: 2 }),
              meta: fc.jsonValue({ maxDepth: 1 }),
            },
            { requiredKeys: [] },
          ),
        ),
        response: fc.oneof(
          fc.jsonValue({ maxDepth: 3 }),
          fc.record(
            {
              code: fc.jsonValue({ maxDepth: 0 }),
              reason: fc.string({ maxLength: 8 }),
              headers: fc.jsonValue({ maxDepth: 2 }),
              body: fc.jsonValue({ maxDepth: 0 }),
              'body-bin': fc.jsonValue({ maxDepth: 0 }),
            },
            { requiredKeys: [] },
          ),
        ),
      },
      { requiredKeys: [] },
    )
    .map((v) => JSON.stringify(v)),
  wireText,
);

/** Channel names and ids header syntax carries unchanged: no separators, quotes or blanks. */
const plainToken = fc.stringMatching(/^[A-Za-z0-9!#$%&'*+.^_`|~/:@-]{1,12}$/);

export const gripHeaderTargets = [
  defineTarget({
    name: 'instruct',
    summary:
      'GRIP instructions: any Grip-* headers and instruct body parse or throw GripInstructError',
    arbitrary: fc.record({
      headers: fc.array(gripHeader, { maxLength: 6 }),
      isInstruct: fc.boolean(),
      code: fc.constantFrom(200, 200, 404, 0, 1000),
      body: instructBody,
      prefix: fc.constantFrom('', 'p-'),
    }),
    check: ({ headers, isInstruct, code, body, prefix }) => {
      const instruction = returnsOrThrows(GripInstructError, () =>
        parseInstruction(
          {
            code,
            reason: '',
            headers: isInstruct
              ? [['Content-Type', 'application/grip-instruct'], ...headers]
              : headers,
            body: Buffer.from(body),
          },
          { subscriptionMax: SUBSCRIPTION_MAX, channelPrefix: prefix },
        ),
      );
      if (!instruction) return;
      findStreamHoldProblem(instruction);
      ensure(instruction.channels.length <= SUBSCRIPTION_MAX, 'more channels than the maximum');
      for (const channel of instruction.channels) {
        ensure(channelNameProblem(channel.name) === undefined, `bad channel '${channel.name}'`);
        ensure(channel.filters.length <= 5, 'more than 5 filters');
      }
      ensure(
        instruction.timeout >= 5 && instruction.timeout <= MAX_TIMER_SECONDS,
        `timeout ${instruction.timeout} out of range`,
      );
      ensure(
        reasonPhraseProblem(instruction.response.reason) === undefined,
        'a reason with a line break',
      );
    },
  }),
  defineTarget({
    name: 'grip-response-detect',
    summary: 'GRIP responses: the raw-list test agrees with the header-pair test',
    arbitrary: fc.array(
      fc.tuple(
        fc.oneof(
          fc.constantFrom('Grip-Hold', 'grip-x', 'GRIP-', 'Grip', 'Content-Type', 'content-type'),
          fc.string({ maxLength: 8 }),
        ),
        fc.oneof(
          fc.constantFrom('application/grip-instruct', 'Application/Grip-Instruct; x=1', ' text'),
          fc.string({ maxLength: 8 }),
        ),
        fc.boolean(),
      ),
      { maxLength: 5 },
    ),
    check: (entries) => {
      const pairs = entries.map(([n, v]) => [n, v] as [string, string]);
      const raw = entries.flatMap(([n, v, isBuffer]): (Buffer | string)[] =>
        isBuffer ? [Buffer.from(n, 'latin1'), Buffer.from(v, 'latin1')] : [n, v],
      );
      // Only byte strings (one char per byte) travel as Buffers without change.
      if (entries.some(([n, v]) => [...n, ...v].some((c) => c.charCodeAt(0) > 0xff))) return;
      expectEqual(isGripRawResponse(raw), isGripResponse(pairs));
    },
  }),
  defineTarget({
    name: 'keep-alive-header',
    summary: 'Grip-Keep-Alive: any value parses or throws GripInstructError',
    arbitrary: gripValue,
    check: (value) => {
      const keepAlive = returnsOrThrows(GripInstructError, () => parseGripKeepAlive(value));
      if (keepAlive) ensure(keepAlive.timeout >= 1, 'keep-alive timeout below 1 s');
    },
  }),
  defineTarget({
    name: 'keep-alive-round-trip',
    summary: 'Grip-Keep-Alive: data written as cstring or base64 reads back exactly',
    arbitrary: fc.tuple(
      fc.uint8Array({ minLength: 1, maxLength: 60 }).map((b) => Buffer.from(b)),
      fc.nat({ max: 1000 }),
    ),
    check: ([data, timeout]) => {
      expectEqual(decodeCString(encodeCString(data)), data);
      for (const written of [
        `${encodeCString(data)}; format=cstring; timeout=${timeout}`,
        `${data.toString('base64')}; format=base64; timeout=${timeout}`,
      ]) {
        expectEqual(parseGripKeepAlive(written)?.data, data);
      }
    },
  }),
  defineTarget({
    name: 'header-params',
    summary: 'header parameters: any values split and parse without throwing',
    arbitrary: fc.array(fc.oneof(wireText, gripValue), { maxLength: 4 }),
    check: (values) => {
      splitHeaderValues(values);
      parseHeaderParts(values);
      for (const value of values) parseHeaderInteger(value);
      const interval = parseKeepAliveInterval(values.map((v) => ['Keep-Alive-Interval', v]));
      ensure(interval === undefined || interval === 0 || interval >= 20, `interval ${interval}`);
      parseGripExtension(values);
    },
  }),
  defineTarget({
    name: 'header-text-round-trip',
    summary: 'header text: decode(encode(text)) is the text; any string decodes',
    arbitrary: fc.tuple(fc.string({ unit: 'grapheme', maxLength: 60 }), wireText),
    check: ([text, any]) => {
      expectEqual(decodeHeaderText(encodeHeaderText(text)), text);
      decodeHeaderText(any);
    },
  }),
  defineTarget({
    name: 'grip-last-round-trip',
    summary: 'Grip-Last: each channel and last id read back from the header values',
    arbitrary: fc.uniqueArray(fc.tuple(plainToken, plainToken), {
      maxLength: 5,
      selector: ([channel]) => channel,
    }),
    check: (entries) => {
      const parts = parseHeaderParts(gripLastValues(new Map(entries)));
      expectEqual(
        parts.map((p) => [p.value, p.params]),
        entries.map(([channel, id]) => [channel, [{ name: 'last-id', value: id }]]),
      );
    },
  }),
  defineTarget({
    name: 'header-field',
    summary: 'header fields: what may be written cannot end the line early; predicates never throw',
    arbitrary: fc.tuple(wireText, wireText, fc.integer({ min: -1, max: 70000 })),
    check: ([name, value, code]) => {
      if (headerFieldProblem(name, value) === undefined) {
        const line = `${name}: ${value}\r\n`;
        ensure(!/[\r\n\0]/.test(line.slice(0, -2)), 'a writable header with a line break');
        ensure(!name.includes(':') && name !== '', 'a writable header name that is not a token');
      }
      if (reasonPhraseProblem(value) === undefined) ensure(!/[\r\n\0]/.test(value), 'reason');
      const lower = name.toLowerCase();
      expectEqual(isGripRequestHeader(lower), /^grip[-_]/.test(lower));
      isReplayedClientHeader(lower);
      isSwitchingProtocolsHeader(name);
      channelNameProblem(name);
      if (isSendableCloseCode(code)) ensure(code >= 1000 && code <= 4999 && code !== 1005, 'code');
    },
  }),
  defineTarget({
    name: 'set-meta',
    summary: 'WebSocket-over-HTTP Set-Meta-*: the last value given for a name wins',
    arbitrary: fc.tuple(
      fc.array(fc.tuple(fc.constantFrom('a', 'A', 'b'), fc.string({ maxLength: 3 })), {
        maxLength: 3,
      }),
      fc.array(
        fc.tuple(
          fc.oneof(
            fc.constantFrom('Set-Meta-a', 'set-meta-A', 'SET-META-b', 'Set-Meta-', 'Content-Type'),
            fc.string({ maxLength: 12 }),
          ),
          fc.oneof(fc.constant(''), fc.string({ maxLength: 4 })),
        ),
        { maxLength: 5 },
      ),
    ),
    check: ([initial, headers]) => {
      const meta = new Map(initial);
      applySetMeta(meta, headers);
      isWsEventsResponse(headers);
      for (const [name, value] of headers) {
        if (!/^set-meta-./i.test(name)) continue;
        const key = name.slice(9).toLowerCase();
        const last = headers
          .filter(([n]) => n.slice(9).toLowerCase() === key && /^set-meta-/i.test(n))
          .at(-1)![1];
        const found = [...meta].filter(([k]) => k.toLowerCase() === key);
        expectEqual(
          found.map(([, v]) => v),
          last === '' ? [] : [last],
        );
        void value;
      }
    },
  }),
  defineTarget({
    name: 'ws-control',
    testRuns: 1000,
    summary: 'WebSocket control messages: any text parses or throws WsControlError',
    arbitrary: fc.oneof(
      wireText,
      fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify(v)),
      fc
        .record(
          {
            type: fc.constantFrom(
              'subscribe',
              'unsubscribe',
              'detach',
              'set-meta',
              'keep-alive',
              'x',
            ),
            channel: fc.jsonValue({ maxDepth: 1 }),
            'prev-id': fc.jsonValue({ maxDepth: 0 }),
            name: fc.jsonValue({ maxDepth: 1 }),
            value: fc.jsonValue({ maxDepth: 1 }),
            filters: fc.jsonValue({ maxDepth: 2 }),
            content: fc.jsonValue({ maxDepth: 1 }),
            'content-bin': fc.jsonValue({ maxDepth: 1 }),
            'message-type': fc.constantFrom('text', 'binary', 'ping', 'x', 1),
            timeout: fc.jsonValue({ maxDepth: 1 }),
            mode: fc.jsonValue({ maxDepth: 1 }),
          },
          { requiredKeys: ['type'] },
        )
        .map((v) => JSON.stringify(v)),
    ),
    check: (text) => {
      const message = returnsOrThrows(WsControlError, () => parseWsControlMessage(text));
      if (message?.type === 'subscribe' || message?.type === 'unsubscribe') {
        ensure(channelNameProblem(message.channel) === undefined, 'bad channel accepted');
      }
      if (message?.type === 'keep-alive' && message.keepAlive) {
        ensure(message.keepAlive.timeout >= 1, 'keep-alive timeout below 1 s');
      }
    },
  }),
  defineTarget({
    name: 'ws-message-prefix',
    summary: 'GRIP WebSocket messages: a relayed message is the original without its prefix',
    arbitrary: fc.tuple(fc.array(wireText, { maxLength: 2 }), wireBytes, fc.boolean()),
    check: ([values, content, isText]) => {
      const extension = parseGripExtension(values.map((v) => `grip; message-prefix=${v}`));
      if (!extension) return;
      const message = classifyBackendMessage(content, isText, extension);
      if (message.kind === 'relay') {
        expectEqual(Buffer.concat([extension.messagePrefix, message.content]), content);
      }
    },
  }),
];
