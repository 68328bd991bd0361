import { describe, expect, it } from 'vitest';
import { firstOutOfScope, isInScope, parseChannelsClaim } from '../../../handler/channel-scope.js';

describe('channel scope', () => {
  it.each([
    ['news', ['news'], true],
    ['news.sport', ['news'], false],
    ['news.sport', ['news.*'], true],
    ['news.', ['news.*'], true],
    ['news', ['news.*'], false],
    ['anything', ['*'], true],
    ['alerts', ['news.*', 'alerts'], true],
    ['', ['x'], false],
  ] as const)('%j in %j: %s', (channel, patterns, expected) => {
    expect(isInScope(channel, patterns)).toBe(expected);
  });

  it('names the first channel out of scope', () => {
    expect(firstOutOfScope(['news.a', 'b', 'c'], ['news.*'])).toBe('b');
    expect(firstOutOfScope(['news.a'], ['news.*'])).toBeUndefined();
  });

  it.each([['alerts'], [[1]], [['']], [{}], [null]])('refuses the claim %j', (claim) => {
    expect(parseChannelsClaim(claim)).toMatch(/must be an array of non-empty strings/);
  });

  it('takes an array of strings, empty included (a token that may publish nowhere)', () => {
    expect(parseChannelsClaim(['a', 'b*'])).toEqual(['a', 'b*']);
    expect(parseChannelsClaim([])).toEqual([]);
  });
});
