import { describe, expect, it } from 'vitest';
import { Histogram } from '../../../bench/histogram.js';
import { ChannelReceiver, itemText } from '../../../test/soak/channel-receiver.js';
import { PublishLog } from '../../../test/soak/publish-log.js';
import { reconcile } from '../../../test/soak/tally.js';

/*
 * The soak's checker: a connection is due every position of its channel published after it
 * was confirmed and acknowledged before it chose to close, in order, once.
 */

function counters() {
  return { received: 0, duplicates: 0, outOfOrder: 0, misrouted: 0, latency: new Histogram() };
}

/** Channel 0 with positions 1..count sent at times 10, 20, 30, ... */
function logOf(count: number): PublishLog {
  const log = new PublishLog(1);
  for (let i = 1; i <= count; i++) log.ack(0, log.next(0, i * 10));
  return log;
}

function receive(receiver: ChannelReceiver, seqs: number[], channel = 0): void {
  for (const seq of seqs) {
    const text = itemText(seq, seq * 10, channel);
    receiver.onItem(text, 0, text.length, seq * 10 + 1);
  }
}

function confirmedAt(receiver: ChannelReceiver, time: number): ChannelReceiver {
  receiver.confirmedAt = time;
  return receiver;
}

describe('soak checker', () => {
  it('a connection that got every due position in order has lost nothing', () => {
    const c = counters();
    const receiver = confirmedAt(new ChannelReceiver('sse', 0, c), 25);
    receive(receiver, [2, 3, 4, 5, 6]); // 2 was published before confirmation: not due, no harm
    expect(reconcile(receiver.record(6), logOf(8))).toEqual({
      expected: 4,
      delivered: 4,
      lost: 0,
      firstLost: 0,
    });
    expect(c.received).toBe(5);
  });

  it('a position skipped in the middle is lost', () => {
    const receiver = confirmedAt(new ChannelReceiver('ws', 0, counters()), 25);
    receive(receiver, [3, 4, 6, 7]);
    expect(reconcile(receiver.record(7), logOf(8))).toMatchObject({
      expected: 5,
      delivered: 4,
      lost: 1,
      firstLost: 5,
    });
  });

  it('the first due position missing, and the last ones not there by the close, are lost', () => {
    const receiver = confirmedAt(new ChannelReceiver('http-stream', 0, counters()), 25);
    receive(receiver, [4, 5]);
    expect(reconcile(receiver.record(7), logOf(8))).toMatchObject({
      expected: 5,
      delivered: 2,
      lost: 3,
      firstLost: 3,
    });
  });

  it('a connection that received nothing lost everything due', () => {
    const receiver = confirmedAt(new ChannelReceiver('ws-over-http', 0, counters()), 25);
    expect(reconcile(receiver.record(5), logOf(8))).toMatchObject({ expected: 3, lost: 3 });
  });

  it('a long-poll is due everything after its first prev-id, whenever it was published', () => {
    const receiver = confirmedAt(new ChannelReceiver('long-poll', 0, counters()), 1_000);
    receive(receiver, [3, 4, 5]);
    expect(reconcile(receiver.record(6, undefined, 3), logOf(8))).toMatchObject({
      expected: 4,
      delivered: 3,
      lost: 1,
      firstLost: 6,
    });
  });

  it('a repeated position is a duplicate, a late one is out of order and no longer lost', () => {
    const c = counters();
    const receiver = confirmedAt(new ChannelReceiver('sse', 0, c), 5);
    receive(receiver, [1, 2, 2, 4, 3, 4]);
    expect(c.duplicates).toBe(2);
    expect(c.outOfOrder).toBe(1);
    expect(reconcile(receiver.record(4), logOf(4))).toMatchObject({ lost: 0, delivered: 4 });
  });

  it('an item of another channel is counted apart and not taken', () => {
    const c = counters();
    const receiver = confirmedAt(new ChannelReceiver('ws', 0, c), 5);
    receive(receiver, [1], 7);
    expect(c.misrouted).toBe(1);
    expect(receiver.lastSeq).toBe(0);
  });

  it('a WebSocket is confirmed by the backend’s ready message, and due nothing before', () => {
    const receiver = new ChannelReceiver('ws', 0, counters());
    expect(reconcile(receiver.record(3), logOf(3)).expected).toBe(0);
    receiver.onItem('ready', 0, 5, 0);
    expect(receiver.confirmedAt).toBeGreaterThan(0);
  });
});
