import { describe, expect, it } from 'vitest';
import { gripLastValues } from '../../../src/grip/grip-last.js';

describe('gripLastValues', () => {
  it('one value per channel, in the map order', () => {
    const ids = new Map([
      ['news', '42'],
      ['sport', 'a-b'],
    ]);
    expect(gripLastValues(ids)).toEqual(['news; last-id=42', 'sport; last-id=a-b']);
  });

  it('no channel, no value', () => {
    expect(gripLastValues(new Map())).toEqual([]);
  });
});
