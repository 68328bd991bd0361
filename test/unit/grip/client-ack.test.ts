import { describe, expect, it } from 'vitest';
import { ackFrame, parseAckFrame, parseAckPath } from '../../../src/grip/client-ack.js';

const bytes = (text: string): Uint8Array => new TextEncoder().encode(text);

describe('client acknowledgements', () => {
  it('reads the item id of an ack frame, and leaves every other message to the application', () => {
    expect(parseAckFrame(bytes(ackFrame('item-1')), false)).toBe('item-1');
    expect(parseAckFrame(bytes('{"thumbtack-ack":"a\\"b"}'), false)).toBe('a"b');
    for (const other of ['hello', '{"ack":"x"}', ' {"thumbtack-ack":"x"}', '']) {
      expect(parseAckFrame(bytes(other), false)).toBeUndefined();
    }
    expect(parseAckFrame(bytes(ackFrame('x')), true)).toBeUndefined();
    const long = `{"thumbtack-ack":"${'x'.repeat(2000)}"}`;
    expect(parseAckFrame(bytes(long), false)).toBeUndefined();
  });

  it('consumes an ack-shaped frame that names no item (null: counted, never forwarded)', () => {
    for (const bad of ['{"thumbtack-ack":', '{"thumbtack-ack":1}', '{"thumbtack-ack":""}']) {
      expect(parseAckFrame(bytes(bad), false)).toBeNull();
    }
  });

  it('reads the connection and item of an ack path, percent-decoded', () => {
    expect(parseAckPath('/_thumbtack/ack/c-1/item%2F2')).toEqual({
      connection: 'c-1',
      item: 'item/2',
    });
    for (const bad of [
      '/_thumbtack/ack/',
      '/_thumbtack/ack/c',
      '/_thumbtack/ack/c/',
      '/_thumbtack/ack/c/i/j',
      '/_thumbtack/ack/c/%zz',
    ]) {
      expect(parseAckPath(bad)).toBeNull();
    }
  });
});
