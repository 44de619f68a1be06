// The benchmark's knobs, from the environment (docs/benchmark.md); defaults keep a run to a few
// minutes on 2 cores.

function intEnv(name: string, fallback: number): number {
  const raw = process.env[name]?.trim();
  if (!raw) return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 1) throw new Error(`${name} must be a positive whole number`);
  return value;
}

export interface Knobs {
  /** Serial operations per row (BENCH_OPS), after BENCH_WARMUP warm-up rounds. */
  ops: number;
  warmup: number;
  /** Workers of the throughput rows (BENCH_CONCURRENCY). */
  concurrency: number;
  /** Concurrent time per throughput row: BENCH_ROUNDS slices of BENCH_SLICE_MS. */
  rounds: number;
  sliceMs: number;
  /** Fresh processes per cold-load variant (BENCH_COLD_RUNS). */
  coldRuns: number;
  /** Devices stored for the read, repeat and list rows (BENCH_DEVICES), each with BENCH_KEYS_PER_DEVICE keys. */
  devices: number;
  keysPerDevice: number;
  /** Keys of the bulk rows (BENCH_BULK_KEYS): the import's file and the mirror's tenant each hold this many. */
  bulkKeys: number;
}

export function readKnobs(): Knobs {
  return {
    ops: intEnv('BENCH_OPS', 300),
    warmup: intEnv('BENCH_WARMUP', 50),
    concurrency: intEnv('BENCH_CONCURRENCY', 16),
    rounds: intEnv('BENCH_ROUNDS', 4),
    sliceMs: intEnv('BENCH_SLICE_MS', 500),
    coldRuns: intEnv('BENCH_COLD_RUNS', 20),
    devices: intEnv('BENCH_DEVICES', 16),
    keysPerDevice: intEnv('BENCH_KEYS_PER_DEVICE', 4),
    bulkKeys: intEnv('BENCH_BULK_KEYS', 2_000),
  };
}
