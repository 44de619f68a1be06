// Timing, percentiles and the interleaved runners.

export const now = (): number => Number(process.hrtime.bigint()) / 1e6; // milliseconds

export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  // Nearest rank: the smallest sample with at least p% of the samples at or below it.
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1];
}

export interface Summary {
  n: number;
  p50: number;
  p95: number;
  p99: number;
  mean: number;
}

export function summarize(samples: readonly number[]): Summary {
  const sorted = [...samples].sort((a, b) => a - b);
  const mean = sorted.reduce((sum, x) => sum + x, 0) / Math.max(1, sorted.length);
  return { n: sorted.length, p50: percentile(sorted, 50), p95: percentile(sorted, 95), p99: percentile(sorted, 99), mean };
}

export function median(values: readonly number[]): number {
  return percentile(
    [...values].sort((a, b) => a - b),
    50,
  );
}

export function shuffled<T>(items: readonly T[]): T[] {
  const copy = [...items];
  for (let i = copy.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [copy[i], copy[j]] = [copy[j], copy[i]];
  }
  return copy;
}

// ---------------------------------------------------------------------------------------------
// Storage requests (counted by storageCounter.ts, or anything with the same shape)

/** Storage requests per operation, by method and table ($batch for a transaction), with the time in them. */
export interface RoundTrips {
  /** Storage requests per operation. */
  total: number;
  detail: Record<string, number>;
  /** Requests one after another (the longest chain of requests that do not overlap), per operation. */
  sequential?: number;
}

export interface OpStorage {
  requests: number;
  /** The longest chain of requests that ran one after another. */
  sequential: number;
  /** Wall time with at least one storage request in flight. */
  busyMs: number;
}

/** What the runners need of a storage request counter (StorageMonitor in storageCounter.ts). */
export interface StorageCounter {
  /** Counts for `variant` from now on (undefined: count nothing); concurrent slices. */
  measuring(variant: string | undefined): void;
  /** Serial runs: starts following one operation's requests. */
  beginOp(variant: string): void;
  endOp(): OpStorage;
  /** Requests per operation of `variant` since the last reset, in total and by method and table. */
  perOp(variant: string, ops: number): RoundTrips;
  reset(): void;
}

export const round = (x: number, digits = 3): number => (Number.isFinite(x) ? Number(x.toFixed(digits)) : x);

// ---------------------------------------------------------------------------------------------
// Runners

export interface Variant {
  name: string;
  /** One operation; `worker` is 0..concurrency-1, `seq` counts that worker's operations. */
  run(worker: number, seq: number): Promise<void>;
}

export interface SerialResult {
  latency: Summary;
  /** Per operation: wall time with a storage request in flight, and the rest (our code, the SDK's own, the HTTP hop). */
  inStorage: Summary;
  outsideStorage: Summary;
  roundTrips: RoundTrips;
}

/**
 * Every variant `ops` times, one operation at a time, in rounds: each round runs every variant once in
 * a fresh random order, so that machine noise and drift (GC, table growth) fall on all variants alike.
 */
export async function serialRounds(
  variants: readonly Variant[],
  options: { warmup: number; ops: number; monitor: StorageCounter },
): Promise<Map<string, SerialResult>> {
  for (let round = 0; round < options.warmup; round++) {
    for (const variant of shuffled(variants)) await variant.run(0, round);
  }
  const samples = new Map(
    variants.map((v) => [v.name, { total: [] as number[], inside: [] as number[], outside: [] as number[], sequential: 0 }]),
  );
  options.monitor.reset();
  for (let round = 0; round < options.ops; round++) {
    for (const variant of shuffled(variants)) {
      options.monitor.beginOp(variant.name);
      const start = now();
      try {
        await variant.run(0, options.warmup + round);
      } finally {
        const total = now() - start;
        const storage = options.monitor.endOp();
        const s = samples.get(variant.name)!;
        s.total.push(total);
        s.inside.push(storage.busyMs);
        s.outside.push(total - storage.busyMs);
        s.sequential += storage.sequential;
      }
    }
  }
  return new Map(
    variants.map((v) => {
      const s = samples.get(v.name)!;
      return [
        v.name,
        {
          latency: summarize(s.total),
          inStorage: summarize(s.inside),
          outsideStorage: summarize(s.outside),
          roundTrips: { ...options.monitor.perOp(v.name, options.ops), sequential: round(s.sequential / options.ops, 2) },
        },
      ];
    }),
  );
}

export interface ConcurrentResult {
  ops: number;
  seconds: number;
  opsPerSec: number;
  latency: Summary;
  roundTrips: RoundTrips;
}

/**
 * Each variant with `concurrency` workers issuing operations back to back, in time slices: a round
 * gives every variant one slice, in a fresh random order. Throughput is operations over the slices'
 * total wall time (each slice ends when its last operation has finished).
 */
export async function concurrentRounds(
  variants: readonly Variant[],
  options: { concurrency: number; rounds: number; sliceMs: number; warmupMs: number; monitor: StorageCounter },
): Promise<Map<string, ConcurrentResult>> {
  const seqs = new Map<string, number[]>(variants.map((v) => [v.name, Array<number>(options.concurrency).fill(0)]));
  const slice = async (variant: Variant, ms: number, samples?: number[]): Promise<{ ops: number; ms: number }> => {
    const seq = seqs.get(variant.name)!;
    const start = now();
    const end = start + ms;
    let ops = 0;
    await Promise.all(
      Array.from({ length: options.concurrency }, async (_, worker) => {
        while (now() < end) {
          const t0 = now();
          await variant.run(worker, seq[worker]++);
          samples?.push(now() - t0);
          ops++;
        }
      }),
    );
    return { ops, ms: now() - start };
  };

  for (const variant of shuffled(variants)) await slice(variant, options.warmupMs);
  options.monitor.reset();
  const totals = new Map(variants.map((v) => [v.name, { ops: 0, ms: 0, samples: [] as number[] }]));
  for (let round = 0; round < options.rounds; round++) {
    for (const variant of shuffled(variants)) {
      const total = totals.get(variant.name)!;
      options.monitor.measuring(variant.name);
      const { ops, ms } = await slice(variant, options.sliceMs, total.samples);
      options.monitor.measuring(undefined);
      total.ops += ops;
      total.ms += ms;
    }
  }
  return new Map(
    variants.map((v) => {
      const t = totals.get(v.name)!;
      return [
        v.name,
        {
          ops: t.ops,
          seconds: t.ms / 1000,
          opsPerSec: t.ops / (t.ms / 1000),
          latency: summarize(t.samples),
          roundTrips: options.monitor.perOp(v.name, t.ops),
        },
      ];
    }),
  );
}
