import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { Sequencer, type SequencerOptions } from '../../../handler/sequencer.js';
import type { PublishItem } from '../../../src/grip/publish-types.js';

function item(id?: string, prevId?: string, extra: Partial<PublishItem> = {}): PublishItem {
  const out: PublishItem = { channel: 'c', noSeq: false, formats: {}, ...extra };
  if (id !== undefined) out.id = id;
  if (prevId !== undefined) out.prevId = prevId;
  return out;
}

describe('Sequencer', () => {
  let released: { id: string | undefined; channel: string; time: number }[];
  let sequencer: Sequencer;
  const make = (options: Partial<SequencerOptions> = {}): Sequencer =>
    new Sequencer({
      release: (i, time) => released.push({ id: i.id, channel: i.channel, time }),
      ...options,
    });
  const ids = (): (string | undefined)[] => released.map((r) => r.id);

  beforeEach(() => {
    vi.useFakeTimers();
    vi.setSystemTime(1_000_000);
    released = [];
    sequencer = make();
  });
  afterEach(() => {
    sequencer.close();
    vi.useRealTimers();
  });

  it('releases at once when the channel is not sequenced, with the accepted time', () => {
    sequencer.add(item('a', 'zzz'), 42, false);
    expect(released).toEqual([{ id: 'a', channel: 'c', time: 42 }]);
    expect(sequencer.lastId('c')).toBeUndefined();
  });

  it('releases the first sequenced item and remembers its id', () => {
    sequencer.add(item('s1', 'unknown'), 1, true);
    expect(ids()).toEqual(['s1']);
    expect(sequencer.lastId('c')).toBe('s1');
  });

  it('holds an item whose prev-id is not the last id until its predecessor arrives', () => {
    sequencer.add(item('s1'), 1, true);
    sequencer.add(item('s3', 's2'), 3, true);
    expect(ids()).toEqual(['s1']);
    sequencer.add(item('s2', 's1'), 2, true);
    expect(released).toEqual([
      { id: 's1', channel: 'c', time: 1 },
      { id: 's2', channel: 'c', time: 2 },
      { id: 's3', channel: 'c', time: 3 },
    ]);
    expect(sequencer.lastId('c')).toBe('s3');
    expect(sequencer.pendingCount).toBe(0);
  });

  it('releases a chain of buffered items in prev-id order', () => {
    sequencer.add(item('a'), 0, true);
    sequencer.add(item('d', 'c'), 0, true);
    sequencer.add(item('c', 'b'), 0, true);
    sequencer.add(item('b', 'a'), 0, true);
    expect(ids()).toEqual(['a', 'b', 'c', 'd']);
  });

  it('releases a buffered item after the message wait, checked every second', () => {
    sequencer.add(item('s1'), 0, true);
    sequencer.add(item('s3', 's2'), 0, true);
    vi.advanceTimersByTime(4999);
    expect(ids()).toEqual(['s1']);
    vi.advanceTimersByTime(1001);
    expect(ids()).toEqual(['s1', 's3']);
    expect(sequencer.lastId('c')).toBe('s3');
  });

  it('releases an expired item together with items waiting on it', () => {
    sequencer.add(item('s1'), 0, true);
    sequencer.add(item('s3', 's2'), 0, true);
    vi.advanceTimersByTime(3000);
    sequencer.add(item('s4', 's3'), 0, true);
    vi.advanceTimersByTime(3000);
    expect(ids()).toEqual(['s1', 's3', 's4']);
  });

  it('keeps the first item waiting on a prev-id and drops a second one', () => {
    sequencer.add(item('s1'), 0, true);
    sequencer.add(item('x', 's2'), 0, true);
    sequencer.add(item('y', 's2'), 0, true);
    expect(sequencer.pendingCount).toBe(1);
    vi.advanceTimersByTime(6000);
    expect(ids()).toEqual(['s1', 'x']);
  });

  it('buffers at most pendingMax items per channel', () => {
    sequencer.close();
    sequencer = make({ pendingMax: 2 });
    sequencer.add(item('s1'), 0, true);
    for (const n of [1, 2, 3]) sequencer.add(item(`x${n}`, `p${n}`), 0, true);
    expect(sequencer.pendingCount).toBe(2);
    sequencer.add(item('o1', 'p1', { channel: 'other' }), 0, true);
    expect(ids()).toEqual(['s1', 'o1']);
  });

  it('no-seq items bypass the buffer and leave the last id alone', () => {
    sequencer.add(item('s1'), 0, true);
    sequencer.add(item('n1', 'nope', { noSeq: true }), 0, false);
    expect(ids()).toEqual(['s1', 'n1']);
    expect(sequencer.lastId('c')).toBe('s1');
  });

  it('an item without id clears the last id, so the next one is released at once', () => {
    sequencer.add(item('s1'), 0, true);
    sequencer.add(item(undefined), 0, true);
    sequencer.add(item('s5', 's4'), 0, true);
    expect(ids()).toEqual(['s1', undefined, 's5']);
  });

  it('drops a repeated (channel, id) within the id cache TTL, even unsequenced', () => {
    sequencer.add(item('a1'), 0, false);
    sequencer.add(item('a1'), 0, true);
    sequencer.add(item('a1', undefined, { channel: 'other' }), 0, false);
    expect(released.map((r) => `${r.channel}/${r.id}`)).toEqual(['c/a1', 'other/a1']);
  });

  it('accepts the same id again once the TTL has passed', () => {
    sequencer.add(item('a1'), 0, false);
    vi.advanceTimersByTime(60_000);
    sequencer.add(item('a1'), 0, false);
    expect(ids()).toEqual(['a1', 'a1']);
  });

  it('forgets the oldest ids past idCacheMax, and keeps the newer ones', () => {
    sequencer.close();
    sequencer = make({ idCacheMax: 3 });
    for (const id of ['a', 'b', 'c', 'd']) sequencer.add(item(id), 0, false);
    sequencer.add(item('a'), 0, false); // forgotten: 'd' pushed it out
    sequencer.add(item('d'), 0, false); // still remembered
    expect(ids()).toEqual(['a', 'b', 'c', 'd', 'a']);
  });

  it('expires ids in order over many TTLs, each one accepted again only after its own', () => {
    // Thousands of ids a second over several TTLs: the cache's queue is compacted on the way.
    const seen = new Set<string>();
    for (let second = 0; second < 180; second++) {
      for (let k = 0; k < 50; k++) sequencer.add(item(`i${second}-${k}`), 0, false);
      // An id from 59 s ago is still a duplicate; one from 60 s ago has just expired.
      if (second >= 60) {
        sequencer.add(item(`i${second - 59}-0`), 0, false);
        sequencer.add(item(`i${second - 60}-1`), 0, false);
        seen.add(`i${second - 60}-1`);
      }
      vi.advanceTimersByTime(1_000);
    }
    const counts = new Map<string, number>();
    for (const id of ids()) counts.set(id!, (counts.get(id!) ?? 0) + 1);
    const again = [...counts].filter(([, n]) => n > 1).map(([id]) => id);
    expect(new Set(again)).toEqual(seen);
    expect(released).toHaveLength(180 * 50 + 120);
  });

  it('never drops repeats when the id cache is off', () => {
    sequencer.close();
    sequencer = make({ idCacheTtlMs: 0 });
    sequencer.add(item('a1'), 0, false);
    sequencer.add(item('a1'), 0, false);
    expect(ids()).toEqual(['a1', 'a1']);
  });

  it('forgetChannel drops buffered items and the last id', () => {
    sequencer.add(item('s1'), 0, true);
    sequencer.add(item('s3', 's2'), 0, true);
    sequencer.forgetChannel('c');
    expect(sequencer.lastId('c')).toBeUndefined();
    expect(sequencer.pendingCount).toBe(0);
    vi.advanceTimersByTime(10_000);
    expect(ids()).toEqual(['s1']);
    sequencer.add(item('s9', 's8'), 0, true);
    expect(ids()).toEqual(['s1', 's9']);
  });

  it('recover forgets every last id', () => {
    sequencer.add(item('s1'), 0, true);
    sequencer.add(item('o1', undefined, { channel: 'other' }), 0, true);
    sequencer.recover();
    expect(sequencer.lastId('c')).toBeUndefined();
    expect(sequencer.lastId('other')).toBeUndefined();
  });

  it('keeps no timer running once nothing is buffered', () => {
    sequencer.add(item('s1'), 0, true);
    sequencer.add(item('s3', 's2'), 0, true);
    expect(vi.getTimerCount()).toBe(1);
    sequencer.add(item('s2', 's1'), 0, true);
    expect(vi.getTimerCount()).toBe(0);
  });
});
