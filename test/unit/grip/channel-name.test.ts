import { describe, expect, it } from 'vitest';
import { channelNameProblem } from '../../../src/grip/channel-name.js';

describe('channelNameProblem', () => {
  it.each(['a', 'news/sports', ' ', 'ünïcode', 'x\u0001y', 'replay-end:0:1'])(
    'accepts %j',
    (name) => {
      expect(channelNameProblem(name)).toBeUndefined();
    },
  );

  it('refuses the empty name (the bus topic for every delivery)', () => {
    expect(channelNameProblem('')).toBe('is empty');
  });

  it.each(['\u0000', '\u0000replay-end:ab:1', 'a\u0000'])('refuses %j (NUL)', (name) => {
    expect(channelNameProblem(name)).toBe('contains a NUL character');
  });
});
