import { describe, expect, it } from 'vitest';
import { History } from '../../../handler/history.js';

const frames = (text: string): Buffer[] => [Buffer.from(text)];
const texts = (list: Buffer[][]): string[] => list.map((f) => f[0]!.toString());

function clock(start = 0): { now: () => number; advance: (ms: number) => void } {
  let t = start;
  return { now: () => t, advance: (ms) => (t += ms) };
}

describe('History', () => {
  it("returns a channel's recent deliveries oldest first, the same frame objects", () => {
    const history = new History();
    const first = frames('a1');
    history.add('a', first);
    history.add('b', frames('b1'));
    history.add('a', frames('a2'));
    expect(texts(history.recent('a'))).toEqual(['a1', 'a2']);
    expect(history.recent('a')[0]).toBe(first);
    expect(history.recent('none')).toEqual([]);
  });

  it('forgets deliveries older than the age limit', () => {
    const c = clock();
    const history = new History({ maxAgeMs: 5000, now: c.now });
    history.add('a', frames('old'));
    c.advance(3000);
    history.add('a', frames('new'));
    c.advance(2500);
    expect(texts(history.recent('a'))).toEqual(['new']);
    history.prune();
    expect(history.size).toBe(1);
    c.advance(5000);
    history.prune();
    expect(history.size).toBe(0);
    expect(history.bytes).toBe(0);
  });

  it('keeps at most perChannelMax deliveries per channel', () => {
    const history = new History({ perChannelMax: 3 });
    for (let i = 1; i <= 5; i++) history.add('a', frames(`a${i}`));
    history.add('b', frames('b1'));
    expect(texts(history.recent('a'))).toEqual(['a3', 'a4', 'a5']);
    expect(texts(history.recent('b'))).toEqual(['b1']);
    expect(history.size).toBe(4);
  });

  it('bounds total bytes by evicting the oldest deliveries of any channel', () => {
    const history = new History({ totalBytesMax: 10 });
    history.add('a', frames('aaaa'));
    history.add('b', frames('bbbb'));
    history.add('c', frames('cccc'));
    expect(history.bytes).toBe(8);
    expect(history.recent('a')).toEqual([]);
    expect(texts(history.recent('b'))).toEqual(['bbbb']);
    expect(texts(history.recent('c'))).toEqual(['cccc']);
  });

  it('does not keep a single delivery larger than the byte bound', () => {
    const history = new History({ totalBytesMax: 3 });
    history.add('a', frames('toolarge'));
    expect(history.size).toBe(0);
  });

  it('stays consistent across many evictions and expiries', () => {
    const c = clock();
    const history = new History({ perChannelMax: 2, maxAgeMs: 100, now: c.now });
    for (let i = 0; i < 5000; i++) {
      history.add(`ch${i % 3}`, frames(String(i)));
      c.advance(1);
    }
    expect(history.size).toBe(6);
    expect(texts(history.recent('ch2'))).toEqual(['4994', '4997']);
    c.advance(200);
    history.prune();
    expect(history.size).toBe(0);
  });
});
