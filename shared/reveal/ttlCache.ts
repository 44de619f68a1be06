/**
 * Values by key, each kept `ttlMs` from when it was fetched, at most `maxEntries` (the oldest go first).
 * A failed fetch is not kept: the next ask fetches again. Concurrent asks of one key share one fetch.
 */
export class TtlCache<V> {
  private readonly entries = new Map<string, { value: V; expires: number }>();
  private readonly pending = new Map<string, Promise<V>>();

  constructor(
    private readonly ttlMs: number,
    private readonly maxEntries: number,
    private readonly now: () => number = Date.now,
  ) {}

  async get(key: string, fetch: () => Promise<V>): Promise<V> {
    const entry = this.entries.get(key);
    if (entry && entry.expires > this.now()) return entry.value;
    let fetching = this.pending.get(key);
    if (!fetching) {
      fetching = fetch().finally(() => this.pending.delete(key));
      this.pending.set(key, fetching);
    }
    const value = await fetching;
    this.entries.delete(key);
    this.entries.set(key, { value, expires: this.now() + this.ttlMs });
    for (const oldest of this.entries.keys()) {
      if (this.entries.size <= this.maxEntries) break;
      this.entries.delete(oldest);
    }
    return value;
  }
}
