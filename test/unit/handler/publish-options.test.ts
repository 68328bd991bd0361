import { describe, expect, it } from 'vitest';
import type { PublishItem } from '../../../src/grip/publish-types.js';
import { parsePublishOptions } from '../../../handler/inputs/publish-options.js';

const item = (channel: string, id?: string): PublishItem => ({
  channel,
  noSeq: false,
  formats: {},
  ...(id === undefined ? {} : { id }),
});
const news = [item('news')];
const toOne = [item('$connection:c', 'i')];

describe('publish query options', () => {
  it('is a plain publish without options, or with unrelated query parameters', () => {
    expect(parsePublishOptions('/publish/', news)).toEqual({});
    expect(parsePublishOptions('/publish/?x=1', news)).toEqual({});
    expect(parsePublishOptions('/publish/?receipt=0&one=false', news)).toEqual({});
  });

  it('reads receipt, one, ack and timeout', () => {
    expect(parsePublishOptions('/publish/?receipt', news).ask).toEqual({
      hasReceipt: true,
      waitMs: 2000,
      ackMs: 0,
      isOne: false,
    });
    expect(parsePublishOptions('/?one=1&timeout=0.5', news).ask).toEqual({
      hasReceipt: false,
      waitMs: 500,
      ackMs: 0,
      isOne: true,
    });
    expect(parsePublishOptions('/?ack=2.5', toOne).ask).toEqual({
      hasReceipt: true,
      waitMs: 2000,
      ackMs: 2500,
      isOne: false,
    });
    expect(parsePublishOptions('/?one&ack=1', [item('news', 'i')]).ask?.isOne).toBe(true);
  });

  it.each([
    ['/?receipt&timeout=abc', news, '"timeout"'],
    ['/?receipt&timeout=0', news, '"timeout"'],
    ['/?receipt&timeout=31', news, '"timeout"'],
    ['/?timeout=1', news, '"timeout"'],
    ['/?receipt=yes', news, '"receipt"'],
    ['/?one=2', news, '"one"'],
    ['/?one', toOne, '"one"'],
    ['/?ack=1', news, '"ack"'],
    ['/?ack=0.01', toOne, '"ack"'],
    ['/?ack=1', [...toOne, ...toOne], '"ack"'],
    ['/?ack=1', [item('$connection:c')], '"id"'],
  ])('refuses %s naming the field', (url, items, field) => {
    expect(parsePublishOptions(url, items).problem).toContain(field);
  });
});
