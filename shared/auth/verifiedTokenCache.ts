import type { KeySetGeneration } from './signingKeys';

// Verdicts on bearer tokens already verified, so that a client sending the same token again (a device's
// daily check, a helpdesk page's burst of reads) costs a map lookup instead of an RSA signature check.
// An entry never outlives what made the verdict true:
// - the token's `exp` (exactly: the clock tolerance is granted only by a full verification);
// - the key set that verified it: when the set is refetched the entry is dropped, and once the set is
//   as old as the signing keys' cache age the entry expires even if nobody refetched it, so a key
//   removed at a rollover stops vouching for its tokens as soon as it stops being trusted at all.
// Only verified tokens are kept, so junk cannot fill the cache; the oldest entry makes room.

/** Enough for every caller of a busy instance within a token's lifetime; at most 16 KiB a token. */
export const DEFAULT_MAX_CACHED_TOKENS = 1000;

interface Entry<T> {
  readonly verdict: T;
  readonly generation: number;
  /** ms since the epoch. */
  readonly expiresAt: number;
}

/** A bounded map from a token string to its verdict `T`; times in ms since the epoch. */
export class VerifiedTokenCache<T> {
  private readonly entries = new Map<string, Entry<T>>();

  constructor(private readonly maxEntries = DEFAULT_MAX_CACHED_TOKENS) {}

  /** The verdict kept for `token`, if it is still good at `now` under the key set `current`. */
  get(token: string, current: KeySetGeneration | undefined, now: number): T | undefined {
    const entry = this.entries.get(token);
    if (entry === undefined) return undefined;
    if (current === undefined || entry.generation !== current.id || now >= entry.expiresAt) {
      this.entries.delete(token);
      return undefined;
    }
    return entry.verdict;
  }

  /** Keeps `verdict` for `token` until its `exp` (seconds) or the key set's reuse limit, whichever is first. */
  set(token: string, verdict: T, exp: number, generation: KeySetGeneration, now: number): void {
    const expiresAt = Math.min(exp * 1000, generation.reusableUntil);
    if (now >= expiresAt) return;
    this.entries.delete(token);
    if (this.entries.size >= this.maxEntries) {
      // A Map iterates in insertion order: the first key is the oldest entry.
      const oldest = this.entries.keys().next();
      if (!oldest.done) this.entries.delete(oldest.value);
    }
    this.entries.set(token, { verdict, generation: generation.id, expiresAt });
  }

  get size(): number {
    return this.entries.size;
  }
}
