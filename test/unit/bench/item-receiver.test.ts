import { describe, expect, it } from 'vitest';
import { DeliveryStats, ItemReceiver } from '../../../bench/loadgen/delivery-stats.js';

function receive(receiver: ItemReceiver, seq: number): number {
  const text = `m${seq} ${Date.now()}`;
  return receiver.onItem(text, 0, text.length, Date.now());
}

describe('ItemReceiver', () => {
  it('counts an item that comes after a later one as received out of order, not lost', () => {
    const stats = new DeliveryStats();
    const receiver = new ItemReceiver(stats);
    expect([3, 1, 2, 4].map((seq) => receive(receiver, seq))).toEqual([1, 1, 1, 1]);
    expect(stats.counts()).toMatchObject({ received: 4, duplicates: 0, outOfOrder: 2 });
  });

  it('counts a repeat as a duplicate, whatever its order', () => {
    const stats = new DeliveryStats();
    const receiver = new ItemReceiver(stats);
    expect([5, 6, 5, 6].map((seq) => receive(receiver, seq))).toEqual([1, 1, 0, 0]);
    expect(stats.counts()).toMatchObject({ received: 2, duplicates: 2, outOfOrder: 0 });
  });

  it('forgets the items of the phase before once the stats are reset', () => {
    const stats = new DeliveryStats();
    const receiver = new ItemReceiver(stats);
    receive(receiver, 7);
    stats.reset();
    expect(receive(receiver, 8)).toBe(1);
    expect(stats.counts()).toMatchObject({ received: 1, duplicates: 0, outOfOrder: 0 });
  });

  it('counts a connection as probed once per phase: a probe after a reset is waited for', () => {
    const stats = new DeliveryStats();
    const receiver = new ItemReceiver(stats);
    const probe = (): number => receiver.onItem('p1', 0, 2, Date.now());
    expect([probe(), probe()]).toEqual([0, 0]);
    expect(stats.counts().probed).toBe(1);
    expect(receiver.isProbed).toBe(true);
    stats.reset();
    expect(stats.counts().probed).toBe(0);
    expect(receiver.isProbed).toBe(false);
    probe();
    expect(stats.counts().probed).toBe(1);
  });
});
