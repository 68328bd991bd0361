import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ConnectionLifetimes, type Recyclable } from '../../../proxy/connection-lifetime.js';

/** Logs `name@time` when recycled and `name:goaway@time` when sent the notice. */
function connection(log: string[], name: string, hasNotice = true): Recyclable {
  return {
    recycle: () => log.push(`${name}@${Date.now()}`),
    sendGoAway: () => {
      if (hasNotice) log.push(`${name}:goaway@${Date.now()}`);
      return hasNotice;
    },
  };
}

describe('ConnectionLifetimes', () => {
  beforeEach(() => {
    vi.useFakeTimers({ now: 1_000_000 });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('recycles each connection once, never before its lifetime, in due order', () => {
    const log: string[] = [];
    const lifetimes = new ConnectionLifetimes();
    lifetimes.track(connection(log, 'b'), 3, 0);
    lifetimes.track(connection(log, 'a'), 1, 0);
    vi.advanceTimersByTime(999);
    expect(log).toEqual([]);
    vi.advanceTimersByTime(10_000);
    expect(log).toEqual(['a@1001000', 'b@1003000']);
    expect(lifetimes.size).toBe(0);
  });

  it('does not recycle a forgotten connection, nor track one twice or with lifetime 0', () => {
    const log: string[] = [];
    const lifetimes = new ConnectionLifetimes();
    const gone = connection(log, 'gone');
    const twice = connection(log, 'twice');
    lifetimes.track(gone, 1, 0);
    lifetimes.track(twice, 1, 0);
    lifetimes.track(twice, 1, 0);
    lifetimes.track(connection(log, 'never'), 0, 5);
    lifetimes.forget(gone);
    expect(lifetimes.size).toBe(1);
    vi.advanceTimersByTime(2_000);
    expect(log).toEqual(['twice@1001000']);
  });

  it('spreads due times over the dither window', () => {
    const log: string[] = [];
    const lifetimes = new ConnectionLifetimes();
    for (let i = 0; i < 1000; i++) lifetimes.track(connection(log, 'c'), 10, 20);
    vi.advanceTimersByTime(31_000);
    const times = log.map((entry) => Number(entry.split('@')[1]) - 1_000_000);
    expect(times).toHaveLength(1000);
    expect(Math.min(...times)).toBeGreaterThanOrEqual(10_000);
    expect(Math.max(...times)).toBeLessThanOrEqual(30_250);
    const fifths = [0, 0, 0, 0, 0];
    for (const t of times) fifths[Math.min(4, Math.floor((t - 10_000) / 4_000))]!++;
    for (const n of fifths) expect(n).toBeGreaterThan(130);
  });

  it('stops its timer when nothing is due, and starts it again', () => {
    const log: string[] = [];
    const lifetimes = new ConnectionLifetimes();
    lifetimes.track(connection(log, 'first'), 1, 0);
    vi.advanceTimersByTime(1_500);
    expect(vi.getTimerCount()).toBe(0);
    vi.advanceTimersByTime(60_000);
    lifetimes.track(connection(log, 'second'), 1, 0);
    vi.advanceTimersByTime(1_000);
    expect(log).toEqual(['first@1001000', 'second@1062500']);
  });

  it('without a close grace sends no notice', () => {
    const log: string[] = [];
    const lifetimes = new ConnectionLifetimes(() => 0);
    lifetimes.track(connection(log, 'a'), 1, 0);
    vi.advanceTimersByTime(5_000);
    expect(log).toEqual(['a@1001000']);
  });

  it('with a close grace sends the notice at the lifetime and recycles after the grace', () => {
    const log: string[] = [];
    const lifetimes = new ConnectionLifetimes(() => 2);
    lifetimes.track(connection(log, 'ws'), 1, 0);
    lifetimes.track(connection(log, 'poll', false), 1, 0);
    vi.advanceTimersByTime(1_000);
    // A transport without a notice (a long-poll) is recycled at once.
    expect(log).toEqual(['ws:goaway@1001000', 'poll@1001000']);
    expect(lifetimes.size).toBe(1);
    vi.advanceTimersByTime(1_999);
    expect(log).toHaveLength(2);
    vi.advanceTimersByTime(1);
    expect(log).toEqual(['ws:goaway@1001000', 'poll@1001000', 'ws@1003000']);
    expect(lifetimes.size).toBe(0);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('does not recycle a connection that closed during its grace', () => {
    const log: string[] = [];
    const lifetimes = new ConnectionLifetimes(() => 2);
    const polite = connection(log, 'polite');
    lifetimes.track(polite, 1, 0);
    vi.advanceTimersByTime(1_500);
    lifetimes.forget(polite);
    expect(lifetimes.size).toBe(0);
    vi.advanceTimersByTime(5_000);
    expect(log).toEqual(['polite:goaway@1001000']);
  });

  it('reads the grace when a lifetime ends, so that a reload applies to every connection', () => {
    const log: string[] = [];
    let graceS = 0;
    const lifetimes = new ConnectionLifetimes(() => graceS);
    lifetimes.track(connection(log, 'a'), 1, 0);
    graceS = 3;
    vi.advanceTimersByTime(4_000);
    expect(log).toEqual(['a:goaway@1001000', 'a@1004000']);
  });
});
