// Timing, percentiles, interleaved runners and the storage request monitor.

import * as diagnostics from 'node:diagnostics_channel';
// The module object itself (not a namespace copy), so that its `request` can be wrapped.
import http, { type ClientRequest } from 'node:http';

export const now = (): number => Number(process.hrtime.bigint()) / 1e6; // milliseconds

export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  // Nearest rank: the smallest sample with at least p% of the samples at or below it.
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1]!;
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
  return percentile([...values].sort((a, b) => a - b), 50);
}

export function shuffled<T>(items: readonly T[]): T[] {
  const copy = [...items];
  for (let i = copy.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [copy[i], copy[j]] = [copy[j]!, copy[i]!];
  }
  return copy;
}

// ---------------------------------------------------------------------------------------------
// Storage round trips

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

/** The table a Table service request is about: `/account/Table(...)`, `/account/Table()?$filter`, `/account/$batch`, `/account/Tables`. */
function tableOf(path: string): string {
  const match = /^\/[^/]+\/([^(/?]+)/.exec(path);
  return match ? decodeURIComponent(match[1]!) : path;
}

/**
 * Watches every HTTP request this process sends to the storage account, whichever client sends it:
 * the app's cached TableClients for every table it uses, the raw baseline clients, retries included.
 * Requests are counted on node:http's diagnostics channel `http.client.request.start` and timed from
 * their creation (http.request, wrapped here: that channel fires only once the request is flushed,
 * which can be after the answer is on its way) to `http.client.response.finish` (response headers).
 * Requests are attributed to the variant being measured; runners measure one variant at a time
 * (serially, or one variant's concurrent slice at a time), so the attribution is exact. Requests made
 * while nothing is measured are not counted.
 */
export class StorageMonitor {
  private variant: string | undefined;
  private op: { requests: number; intervals: [number, number][] } | undefined;
  private readonly created = new WeakMap<object, number>();
  private readonly counts = new Map<string, Map<string, number>>();
  private readonly originalRequest = http.request;
  private readonly onStart = (message: unknown): void => {
    const { request } = message as { request: ClientRequest };
    if (this.variant === undefined || !request.path.startsWith(this.pathPrefix)) return;
    let perVariant = this.counts.get(this.variant);
    if (!perVariant) this.counts.set(this.variant, (perVariant = new Map()));
    const what = `${request.method} ${tableOf(request.path)}`;
    perVariant.set(what, (perVariant.get(what) ?? 0) + 1);
    if (this.op) {
      this.op.requests++;
      if (!this.created.has(request)) this.created.set(request, now());
    }
  };
  private readonly onFinish = (message: unknown): void => {
    const { request } = message as { request: ClientRequest };
    const start = this.created.get(request);
    if (start === undefined || !this.op) return;
    this.created.delete(request);
    this.op.intervals.push([start, now()]);
  };

  /** `pathPrefix`: the account's path on the storage endpoint, e.g. `/devstoreaccount1/`. */
  constructor(private readonly pathPrefix: string) {
    diagnostics.subscribe('http.client.request.start', this.onStart);
    diagnostics.subscribe('http.client.response.finish', this.onFinish);
    const original = this.originalRequest;
    const created = this.created;
    const prefix = this.pathPrefix;
    const monitor = (): boolean => this.op !== undefined;
    (http as { request: typeof http.request }).request = function request(this: unknown, ...args: unknown[]): ClientRequest {
      const at = now();
      const req = (original as (...a: unknown[]) => ClientRequest).apply(this, args);
      if (monitor() && req.path.startsWith(prefix)) created.set(req, at);
      return req;
    } as typeof http.request;
  }

  close(): void {
    diagnostics.unsubscribe('http.client.request.start', this.onStart);
    diagnostics.unsubscribe('http.client.response.finish', this.onFinish);
    (http as { request: typeof http.request }).request = this.originalRequest;
  }

  /** Counts for `variant` from now on (undefined: count nothing). */
  measuring(variant: string | undefined): void {
    this.variant = variant;
  }

  /** Serial runs: starts following one operation's requests. */
  beginOp(variant: string): void {
    this.variant = variant;
    this.op = { requests: 0, intervals: [] };
  }

  endOp(): OpStorage {
    const op = this.op ?? { requests: 0, intervals: [] };
    this.op = undefined;
    this.variant = undefined;
    // Sequential chain: the most requests that do not overlap (earliest end first).
    let sequential = 0;
    let lastEnd = -Infinity;
    for (const [start, end] of [...op.intervals].sort((a, b) => a[1] - b[1])) {
      if (start >= lastEnd) {
        sequential++;
        lastEnd = end;
      }
    }
    // Busy time: the union of the intervals.
    let busyMs = 0;
    let from = -Infinity;
    let to = -Infinity;
    for (const [start, end] of [...op.intervals].sort((a, b) => a[0] - b[0])) {
      if (start > to) {
        if (to > from) busyMs += to - from;
        from = start;
        to = end;
      } else {
        to = Math.max(to, end);
      }
    }
    if (to > from) busyMs += to - from;
    return { requests: op.requests, sequential, busyMs };
  }

  /** Requests per operation, in total and by method and table. */
  perOp(variant: string, ops: number): RoundTrips {
    const perVariant = this.counts.get(variant) ?? new Map<string, number>();
    const detail: Record<string, number> = {};
    let total = 0;
    for (const [what, count] of [...perVariant].sort()) {
      detail[what] = round(count / ops, 2);
      total += count;
    }
    return { total: round(total / ops, 2), detail };
  }

  reset(): void {
    this.counts.clear();
  }
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
  options: { warmup: number; ops: number; monitor: StorageMonitor },
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
  options: { concurrency: number; rounds: number; sliceMs: number; warmupMs: number; monitor: StorageMonitor },
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
          await variant.run(worker, seq[worker]!++);
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

/** Runs `task` over `items` with at most `limit` in flight. */
export async function forEachLimited<T>(items: readonly T[], limit: number, task: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) await task(items[next++]!);
    }),
  );
}
