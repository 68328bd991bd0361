import { describe, expect, it } from 'vitest';
import { RateLimiter } from '../../../examples/gateway/rate-limit.js';

describe('the gateway example token bucket', () => {
  it('allows a burst, then refuses with the whole seconds until the next token', () => {
    const limiter = new RateLimiter({ burst: 3, perSecond: 0.5 });
    for (let i = 0; i < 3; i++) expect(limiter.take('k', 0)).toEqual({ isAllowed: true });
    expect(limiter.take('k', 0)).toEqual({ isAllowed: false, retryAfterS: 2 });
    expect(limiter.take('k', 1000)).toEqual({ isAllowed: false, retryAfterS: 1 });
    expect(limiter.take('k', 2000)).toEqual({ isAllowed: true });
  });

  it('refills at the sustained rate up to the burst, never beyond', () => {
    const limiter = new RateLimiter({ burst: 2, perSecond: 10 });
    expect(limiter.take('k', 0).isAllowed).toBe(true);
    expect(limiter.take('k', 0).isAllowed).toBe(true);
    expect(limiter.take('k', 0).isAllowed).toBe(false);
    // An hour of quiet gives back two tokens, not 36,000.
    const later = 3_600_000;
    expect(limiter.take('k', later).isAllowed).toBe(true);
    expect(limiter.take('k', later).isAllowed).toBe(true);
    expect(limiter.take('k', later).isAllowed).toBe(false);
    expect(limiter.take('k', later + 100).isAllowed).toBe(true);
  });

  it('keeps one bucket per key', () => {
    const limiter = new RateLimiter({ burst: 1, perSecond: 1 });
    expect(limiter.take('alice', 0).isAllowed).toBe(true);
    expect(limiter.take('alice', 0).isAllowed).toBe(false);
    expect(limiter.take('bob', 0).isAllowed).toBe(true);
  });
});
