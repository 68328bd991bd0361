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

  it('keeps a day of history per channel but replays only the last 5 s on a subscription', () => {
    const c = clock();
    const history = new History({ maxAgeMs: 300_000, now: c.now });
    history.add('a', frames('old'), { seq: 1, id: '1' });
    c.advance(6_000);
    history.add('a', frames('new'), { seq: 2, id: '2' });
    expect(texts(history.recent('a'))).toEqual(['new']);
    expect(history.resume('a', '1')).toMatchObject({ kind: 'after', seq: 1 });
  });

  it('answers a resume with the items after the prev-id, none when it is the last, a gap when history does not reach it', () => {
    const history = new History({ perChannelMax: 3 });
    for (let i = 1; i <= 5; i++) history.add('a', frames(`a${i}`), { seq: 10 + i, id: String(i) });
    const after = history.resume('a', '3');
    expect(after.kind).toBe('after');
    if (after.kind === 'after') {
      expect(texts(after.frames)).toEqual(['a4', 'a5']);
      expect(after.seq).toBe(13);
    }
    expect(history.resume('a', '5')).toEqual({ kind: 'after', frames: [], seq: 15 });
    expect(history.resume('a', '1')).toEqual({ kind: 'gap', lastId: '5', seq: 15 });
    expect(history.resume('none', '1')).toEqual({ kind: 'unknown' });
  });

  it('resumes from the item whose prev-id is asked for when that item itself never passed here', () => {
    const history = new History();
    history.add('a', frames('a2'), { seq: 7, id: '2', prevId: '1' });
    history.add('a', frames('a3'), { seq: 8, id: '3', prevId: '2' });
    const after = history.resume('a', '1');
    expect(after.kind).toBe('after');
    if (after.kind === 'after') expect(texts(after.frames)).toEqual(['a2', 'a3']);
  });

  it('knows nothing to resume from when the last item has no id', () => {
    const history = new History();
    history.add('a', frames('a1'), { seq: 1, id: '1' });
    history.add('a', frames('a2'), { seq: 2 });
    expect(history.resume('a', '7')).toEqual({ kind: 'unknown' });
  });

  it('bounds bytes per channel, leaving other channels alone', () => {
    const history = new History({ perChannelBytesMax: 8 });
    history.add('a', frames('aaaa'));
    history.add('b', frames('bbbb'));
    history.add('a', frames('AAAA'));
    history.add('a', frames('xxxx'));
    expect(texts(history.recent('a'))).toEqual(['AAAA', 'xxxx']);
    expect(texts(history.recent('b'))).toEqual(['bbbb']);
    history.add('a', frames('way too large'));
    expect(texts(history.recent('a'))).toEqual(['AAAA', 'xxxx']);
  });

  it('bounds the items kept over all channels', () => {
    const history = new History({ totalEntriesMax: 3 });
    for (let i = 1; i <= 5; i++) history.add(`c${i}`, frames(`c${i}`));
    expect(history.size).toBe(3);
    expect(history.recent('c1')).toEqual([]);
    expect(texts(history.recent('c5'))).toEqual(['c5']);
  });

  it('keeps an item read back from Redis once: a position not after the last is refused', () => {
    const history = new History();
    expect(history.add('a', frames('p1'), { seq: 1, position: '100-0' })).toBe(true);
    expect(history.add('a', frames('p2'), { seq: 2, position: '100-1' })).toBe(true);
    expect(history.add('a', frames('again'), { seq: 3, position: '100-1' })).toBe(false);
    expect(history.add('a', frames('older'), { seq: 4, position: '99-5' })).toBe(false);
    expect(texts(history.recent('a'))).toEqual(['p1', 'p2']);
    expect(history.lastPosition('a')).toBe('100-1');
  });

  it('does not keep entries evicted by a channel bound for the rest of their age', () => {
    const history = new History({ perChannelMax: 2, maxAgeMs: 300_000 });
    for (let i = 0; i < 100_000; i++) history.add(`c${i % 10}`, frames(String(i)));
    expect(history.size).toBe(20);
    expect(history.queueLength).toBeLessThan(5_000);
  });
});
