import { settings } from '../config';
import { tooManyRequests } from '../errors/graphError';
import { type Caller, callerKey } from './caller';

// A token bucket per caller, in this instance's memory: it bounds how fast one identity can pull keys
// out of one instance. It is not global (instances do not share buckets); docs/security.md says
// how to add a global limit in front with API Management.

interface Bucket {
  tokens: number;
  updated: number;
}

/** Beyond this many callers the idlest buckets are dropped; a dropped bucket is a full one, so only generosity is lost. */
const MAX_BUCKETS = 10_000;

export class RateLimiter {
  private readonly buckets = new Map<string, Bucket>();

  constructor(
    private readonly perMinute: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** Takes one token for the caller, or answers how many seconds until one is free. */
  take(key: string): { allowed: true } | { allowed: false; retryAfterSeconds: number } {
    const now = this.now();
    const ratePerMs = this.perMinute / 60_000;
    const bucket = this.buckets.get(key) ?? { tokens: this.perMinute, updated: now };
    bucket.tokens = Math.min(this.perMinute, bucket.tokens + (now - bucket.updated) * ratePerMs);
    bucket.updated = now;
    // Re-inserting keeps the map in least-recently-used order for eviction.
    this.buckets.delete(key);
    this.buckets.set(key, bucket);
    if (this.buckets.size > MAX_BUCKETS) this.buckets.delete(this.buckets.keys().next().value!);
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return { allowed: true };
    }
    return { allowed: false, retryAfterSeconds: Math.max(1, Math.ceil((1 - bucket.tokens) / ratePerMs / 1000)) };
  }
}

let keyReads: RateLimiter | undefined;

/** 429 with Retry-After when the caller (its validated tid and oid, see callerKey) has used up its key reads for now. */
export function limitKeyReads(caller: Caller): void {
  keyReads ??= new RateLimiter(settings().keyReadLimitPerMinute);
  const verdict = keyReads.take(callerKey(caller));
  if (!verdict.allowed) {
    throw tooManyRequests(
      `Too many recovery key reads; this caller may read ${settings().keyReadLimitPerMinute} keys a minute. Try again later.`,
      verdict.retryAfterSeconds,
    );
  }
}

let comparisons: { byCaller: RateLimiter; byKey: RateLimiter } | undefined;

/**
 * 429 with Retry-After when a sent recovery password may not be compared with a stored one now: a
 * comparison answers whether a guess is right (200 no-op against 409), so it is limited like a key
 * read, per caller and, against many callers guessing together, per key.
 */
export function limitPasswordComparisons(caller: Caller, keyId: string): void {
  const perMinute = settings().keyReadLimitPerMinute;
  comparisons ??= { byCaller: new RateLimiter(perMinute), byKey: new RateLimiter(perMinute) };
  const verdicts = [comparisons.byCaller.take(callerKey(caller)), comparisons.byKey.take(keyId)];
  for (const verdict of verdicts) {
    if (!verdict.allowed) {
      throw tooManyRequests(
        `Too many recovery passwords compared with stored ones; at most ${perMinute} a minute per caller and per key. Try again later.`,
        verdict.retryAfterSeconds,
      );
    }
  }
}
