// The shape of one run's results (bench-results/latest.json).

import type { BulkResult } from './bulk';
import type { ColdResult } from './coldLoad';
import type { Knobs } from './knobs';
import type { RoundTrips, Summary } from './measure';

export interface RowResult {
  name: string;
  side: 'floor' | 'service';
  floor?: string;
  /** Serial latency, ms. */
  serial: Summary;
  /** Serial, per operation: storage requests (total, and `sequential`: in a row), by method and table. */
  storage: RoundTrips;
  /** Serial p50s, ms: wall time with a storage request in flight, and the rest (our code, the SDK's own, the HTTP hop). */
  inStorageP50: number;
  outsideStorageP50: number;
  p50VsFloor?: number;
  /** Throughput rows only. */
  concurrent?: { opsPerSec: number; ops: number; seconds: number; p50: number; p99: number; requestsPerOp: number; vsFloor?: number };
}

export interface Target {
  target: string;
  value: string;
  met: boolean;
}

export interface Results {
  date: string;
  commit: string;
  machine: { cpus: number; cpuModel: string; memoryGiB: number; platform: string; node: string };
  loadAverage: { before: number[]; after: number[] };
  knobs: Knobs;
  azurite: string;
  rows: RowResult[];
  cold: ColdResult[];
  /** The import and the Entra mirror of BENCH_BULK_KEYS keys (bulk.ts). */
  bulk: BulkResult[];
  targets: Target[];
  totalSeconds: number;
}
