/** What a token bucket answers for one request. */
export type RateDecision = { isAllowed: true } | { isAllowed: false; retryAfterS: number };

export interface RateLimitOptions {
  /** Requests a key may make at once after a quiet spell (the bucket's size). */
  burst: number;
  /** Requests a key may make per second, sustained (tokens added per second). */
  perSecond: number;
}

/**
 * One token bucket per API key: each request takes a token, tokens come back at
 * `perSecond` up to `burst`. A refusal says how many whole seconds until the next token,
 * for Retry-After.
 */
export class RateLimiter {
  private readonly buckets = new Map<string, { tokens: number; updatedMs: number }>();

  constructor(private readonly options: RateLimitOptions) {}

  take(key: string, nowMs = Date.now()): RateDecision {
    const { burst, perSecond } = this.options;
    const bucket = this.buckets.get(key) ?? { tokens: burst, updatedMs: nowMs };
    bucket.tokens = Math.min(
      burst,
      bucket.tokens + ((nowMs - bucket.updatedMs) / 1000) * perSecond,
    );
    bucket.updatedMs = nowMs;
    this.buckets.set(key, bucket);
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return { isAllowed: true };
    }
    return { isAllowed: false, retryAfterS: Math.ceil((1 - bucket.tokens) / perSecond) };
  }
}
