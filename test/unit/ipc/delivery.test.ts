import { describe, expect, it } from 'vitest';
import type { PublishItem } from '../../../src/grip/publish-types.js';
import {
  decodeDelivery,
  decodeResumeStatus,
  deliveryItem,
  encodeResumeAnswer,
  encodeBusMessage,
  encodeDelivery,
  isAsked,
  splitBusMessage,
  type DeliveryAsk,
} from '../../../src/ipc/delivery.js';

function item(extra: Partial<PublishItem> = {}): PublishItem {
  return {
    channel: 'c',
    noSeq: false,
    formats: {
      httpResponse: {
        action: 'send',
        code: 200,
        reason: 'OK',
        headers: [],
        body: Buffer.from('r'),
      },
      httpStream: { action: 'send', content: Buffer.from('s') },
      wsMessage: { action: 'send', type: 'text', content: Buffer.from('w') },
    },
    ...extra,
  };
}

describe('encodeDelivery / decodeDelivery', () => {
  it('carries meta and each format content-filters when the item has them', () => {
    const withFilters = item({ meta: { sender: 'alice', skip_users: 'bob' } });
    withFilters.formats.httpResponse!.contentFilters = ['var-subst'];
    withFilters.formats.httpStream!.contentFilters = [];
    withFilters.formats.wsMessage!.contentFilters = ['var-subst', 'build-id'];
    const delivery = decodeDelivery(encodeDelivery(withFilters, 7, 1000))!;
    expect(delivery.header.meta).toEqual({ sender: 'alice', skip_users: 'bob' });
    expect(delivery.header.response!.contentFilters).toEqual(['var-subst']);
    expect(delivery.header.stream!.contentFilters).toEqual([]);
    expect(delivery.header.ws!.contentFilters).toEqual(['var-subst', 'build-id']);
    expect(delivery.payload[delivery.header.stream!.content]).toEqual(Buffer.from('s'));
  });

  it('round-trips every action, WebSocket type, status line, headers, close code and ids', () => {
    for (const action of ['send', 'hint', 'close', 'refresh'] as const) {
      for (const type of ['text', 'binary', 'ping', 'pong'] as const) {
        const full = item({ id: 'i2', prevId: 'i1' });
        full.formats.httpResponse = {
          action,
          code: 404,
          reason: 'Nope',
          headers: [
            ['X-A', '1'],
            ['X-A', '2'],
          ],
          body: Buffer.from('r'),
        };
        full.formats.httpStream!.action = action;
        full.formats.wsMessage = {
          action,
          type,
          content: Buffer.from('w'),
          code: 4001,
          reason: 'bye',
        };
        const { header, payload } = decodeDelivery(encodeDelivery(full, 1.7e15, 1234.5))!;
        expect(header).toEqual({
          seq: 1.7e15,
          time: 1234.5,
          id: 'i2',
          prevId: 'i1',
          response: {
            action,
            code: 404,
            reason: 'Nope',
            headers: full.formats.httpResponse.headers,
            body: 0,
          },
          stream: { action, content: 1 },
          ws: { action, type, content: 2, code: 4001, reason: 'bye' },
        });
        expect(payload.map(String)).toEqual(['r', 's', 'w']);
      }
    }
  });

  it('carries a body-patch, and gives it back as the item it came from', () => {
    const patched = item();
    patched.formats.httpResponse!.body = Buffer.alloc(0);
    patched.formats.httpResponse!.bodyPatch = [{ op: 'replace', path: '/n', value: 2 }];
    const delivery = decodeDelivery(encodeDelivery(patched, 1, 1))!;
    expect(delivery.header.response!.bodyPatch).toEqual([{ op: 'replace', path: '/n', value: 2 }]);
    expect(deliveryItem(delivery)).toEqual(patched);
  });

  it('numbers payload frames by the formats present', () => {
    const wsOnly = item();
    delete wsOnly.formats.httpResponse;
    delete wsOnly.formats.httpStream;
    const { header, payload } = decodeDelivery(encodeDelivery(wsOnly, 1, 2))!;
    expect(header.ws!.content).toBe(0);
    expect(header.response).toBeUndefined();
    expect(header.stream).toBeUndefined();
    expect(payload[0]!.toString()).toBe('w');
  });

  it('spends no JSON on a plain send: the header is 18 bytes for a stream item', () => {
    const streamOnly = item({ meta: {} });
    delete streamOnly.formats.httpResponse;
    delete streamOnly.formats.wsMessage;
    expect(encodeDelivery(streamOnly, 1, 1000)[1]!.length).toBe(18);
  });

  it('refuses headers that are short, carry unknown codes or bad JSON, or miss payload frames', () => {
    const frames = encodeDelivery(item({ id: 'x' }), 1, 1000);
    expect(decodeDelivery(frames.slice(0, 1))).toBeUndefined();
    expect(
      decodeDelivery([frames[0]!, frames[1]!.subarray(0, 16), ...frames.slice(2)]),
    ).toBeUndefined();
    expect(decodeDelivery(frames.slice(0, -1))).toBeUndefined();
    const badAction = Buffer.from(frames[1]!);
    badAction[17] = 9;
    expect(decodeDelivery([frames[0]!, badAction, ...frames.slice(2)])).toBeUndefined();
    const badJson = Buffer.concat([frames[1]!.subarray(0, 23), Buffer.from('{nope')]);
    expect(decodeDelivery([frames[0]!, badJson, ...frames.slice(2)])).toBeUndefined();
  });
});

describe('delivery asks (receipts, acks, deliver-to-one)', () => {
  it('round-trips every ask kind beside the formats, in binary unless it names an origin', () => {
    for (const kind of ['receipt', 'listeners', 'client-ack'] as const) {
      const ask: DeliveryAsk = { kind, receipt: 4_000_000_000, waitMs: 1500, ackMs: 30_000 };
      const frames = encodeDelivery(item(), 3, 9, ask);
      expect(isAsked(frames[1]!)).toBe(true);
      const delivery = decodeDelivery(frames)!;
      expect(delivery.header.ask).toEqual(ask);
      expect(delivery.header.ws).toEqual({ action: 'send', type: 'text', content: 2 });
      expect(frames[1]!.length - encodeDelivery(item(), 3, 9)[1]!.length).toBe(13);
    }
    const ask: DeliveryAsk = { kind: 'receipt', receipt: 1, waitMs: 1, ackMs: 0, origin: 'n' };
    const decoded = decodeDelivery(encodeDelivery(item({ id: 'x' }), 1, 1, ask))!;
    expect(decoded.header.ask).toEqual(ask);
    expect(decoded.header.id).toBe('x');
  });

  it('leaves an item without an ask unflagged, and refuses a truncated or unknown ask', () => {
    const plain = encodeDelivery(item(), 1, 1);
    expect(isAsked(plain[1]!)).toBe(false);
    expect(decodeDelivery(plain)!.header.ask).toBeUndefined();
    const asked = encodeDelivery(item(), 1, 1, {
      kind: 'receipt',
      receipt: 1,
      waitMs: 1,
      ackMs: 0,
    });
    const short = [asked[0]!, asked[1]!.subarray(0, asked[1]!.length - 2), ...asked.slice(2)];
    expect(decodeDelivery(short)).toBeUndefined();
    const unknown = Buffer.from(asked[1]!);
    unknown[17 + 3 + 1 + 2] = 9; // the ask's kind, after the three formats' codes
    expect(decodeDelivery([asked[0]!, unknown, ...asked.slice(2)])).toBeUndefined();
  });
});

describe('encodeBusMessage / splitBusMessage', () => {
  it('carries several deliveries of different frame counts in one message, in order', () => {
    const streamOnly = item({ channel: 'b' });
    delete streamOnly.formats.httpResponse;
    delete streamOnly.formats.wsMessage;
    const deliveries = [encodeDelivery(item(), 1, 1000), encodeDelivery(streamOnly, 2, 1001)];
    const split = splitBusMessage(encodeBusMessage(deliveries))!;
    expect(split).toEqual(deliveries);
    expect(split.map((frames) => decodeDelivery(frames)!.channel)).toEqual(['c', 'b']);
  });

  it('refuses a message whose lengths do not add up', () => {
    const message = encodeBusMessage([encodeDelivery(item(), 1, 1000)]);
    expect(splitBusMessage(message.subarray(0, -1))).toBeUndefined();
    expect(splitBusMessage(Buffer.concat([message, Buffer.from([2])]))).toBeUndefined();
    expect(splitBusMessage(Buffer.from([1, 1, 0, 0, 0, 0x63]))).toBeUndefined();
    expect(splitBusMessage(Buffer.from([2, 9, 0, 0, 0, 0x63]))).toBeUndefined();
    expect(splitBusMessage(Buffer.alloc(0))).toBeUndefined();
  });
});

describe('encodeResumeAnswer / decodeResumeStatus', () => {
  it('round-trips each status, a gap with the seq of the channel’s last item', () => {
    for (const status of [
      { kind: 'after', count: 2, seq: 7 },
      { kind: 'gap', lastId: 'x', seq: 9 },
      { kind: 'unknown' },
    ] as const) {
      const [[, frame]] = encodeResumeAnswer('t', status, []) as [[Buffer, Buffer]];
      expect(decodeResumeStatus(frame)).toEqual(status);
    }
  });

  it('takes a gap without a seq (an older handler), and refuses a malformed status', () => {
    const decode = (text: string) => decodeResumeStatus(Buffer.from(text));
    expect(decode('{"kind":"gap","lastId":"x"}')).toEqual({ kind: 'gap', lastId: 'x' });
    expect(decode('{"kind":"gap","lastId":"x","seq":"9"}')).toEqual({ kind: 'gap', lastId: 'x' });
    expect(decode('{"kind":"gap"}')).toBeUndefined();
    expect(decode('{"kind":"after","count":1.5,"seq":1}')).toBeUndefined();
    expect(decode('not json')).toBeUndefined();
  });
});
