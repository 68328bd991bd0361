import { describe, expect, it } from 'vitest';
import type { PublishItem } from '../../../src/grip/publish-types.js';
import {
  decodeDelivery,
  encodeBusMessage,
  encodeDelivery,
  splitBusMessage,
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

  it('leaves meta and content-filters out when absent or empty, keeping the frame small', () => {
    const frames = encodeDelivery(item({ meta: {} }), 1, 1000);
    const header = JSON.parse(frames[1]!.toString()) as Record<string, Record<string, unknown>>;
    expect(header).not.toHaveProperty('meta');
    expect(header['response']).not.toHaveProperty('contentFilters');
    expect(header['stream']).not.toHaveProperty('contentFilters');
    expect(header['ws']).not.toHaveProperty('contentFilters');
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
