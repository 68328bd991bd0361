import { describe, expect, it } from 'vitest';
import { addressedConnection, channelNameProblem } from '../../../src/grip/channel-name.js';

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

describe('addressedConnection', () => {
  it.each([
    ['$connection:4c1e-9a', '4c1e-9a'],
    ['$connection:', ''],
    ['$connection:a:b', 'a:b'],
  ])('reads %j as connection %j', (channel, id) => {
    expect(addressedConnection(channel)).toBe(id);
  });

  it.each(['news', '$conn:1', 'connection:1', ' $connection:1', '$Connection:1', ''])(
    'leaves %j a channel',
    (channel) => {
      expect(addressedConnection(channel)).toBeUndefined();
    },
  );
});
