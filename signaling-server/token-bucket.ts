/**
 * Per-connection rate limit: a token bucket holding at most `burst` tokens, refilled at
 * `ratePerSecond`; each message takes one. Plain data plus pure functions, so the limiter
 * is tested without real time and costs no timer per connection.
 */

export interface TokenBucket {
  tokens: number
  lastRefillMs: number
}

/** A full bucket at time `nowMs`. */
export function createTokenBucket(burst: number, nowMs: number): TokenBucket {
  return { tokens: burst, lastRefillMs: nowMs }
}

/**
 * Refills for the time since the last call, then takes one token. False (and nothing
 * taken) when the bucket is empty. A clock that goes backwards refills nothing.
 */
export function takeToken(bucket: TokenBucket, ratePerSecond: number, burst: number, nowMs: number): boolean {
  const elapsedMs = nowMs - bucket.lastRefillMs
  if (elapsedMs > 0) {
    bucket.tokens = Math.min(burst, bucket.tokens + (elapsedMs * ratePerSecond) / 1000)
    bucket.lastRefillMs = nowMs
  }
  if (bucket.tokens < 1) return false
  bucket.tokens -= 1
  return true
}
