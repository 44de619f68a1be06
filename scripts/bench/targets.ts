// Issue 13's targets (ratios to the one-request floor in one run; storage request counts exact), and
// how a run measures up to them.

import type { ColdResult } from './coldLoad';
import type { RowResult, Target } from './results';
import { GET_KEY, GET_METADATA, LIST_DEVICE, PATCH_NEW, PATCH_REPEAT } from './rows';

interface RowTarget {
  row: string;
  /** Most storage requests per operation, and most of them in a row. */
  requests: number;
  inARow: number;
  /** Most p50 as a multiple of the floor row's p50. */
  p50VsFloor: number;
}

export const ROW_TARGETS: readonly RowTarget[] = [
  { row: PATCH_NEW, requests: 3, inARow: 2, p50VsFloor: 2.0 },
  { row: PATCH_REPEAT, requests: 2, inARow: 2, p50VsFloor: 1.5 },
  // The read and its audit record go out together; the record's completion follows, not waited for.
  { row: GET_KEY, requests: 3, inARow: 2, p50VsFloor: 1.6 },
  { row: GET_METADATA, requests: 1, inARow: 1, p50VsFloor: 1.2 },
  { row: LIST_DEVICE, requests: 2, inARow: 2, p50VsFloor: 1.5 },
];
/** Cold load of the app (`main`) at most this multiple of a bare require('@azure/functions'). */
export const COLD_LOAD_LIMIT = 1.5;
/** Concurrent PATCH throughput at least this fraction of the floor server's. */
export const THROUGHPUT_FLOOR_SHARE = 0.5;

export const COLD_LIBRARY = '@azure/functions';
export const COLD_APP = 'app: package.json main (the bundle)';
/** The same app unbundled, as tsc emits it (what `main` named before the bundle), for comparison. */
export const COLD_APP_UNBUNDLED = 'app unbundled: every dist/functions/*.js';

export function evaluateTargets(rows: readonly RowResult[], cold: readonly ColdResult[], concurrency: number): Target[] {
  const targets: Target[] = [];
  for (const t of ROW_TARGETS) {
    const row = rows.find((r) => r.name === t.row)!;
    const { total, sequential = 0 } = row.storage;
    targets.push({
      target: `${t.row}: storage requests <= ${t.requests} (<= ${t.inARow} in a row)`,
      value: `${total} (${sequential})`,
      met: total <= t.requests && sequential <= t.inARow,
    });
    targets.push({
      target: `${t.row}: p50 <= ${t.p50VsFloor}x the floor`,
      value: `${row.p50VsFloor}x`,
      met: row.p50VsFloor! <= t.p50VsFloor,
    });
  }
  const app = cold.find((c) => c.name === COLD_APP)!;
  const library = cold.find((c) => c.name === COLD_LIBRARY)!;
  const coldRatio = app.wallMs.median / library.wallMs.median;
  targets.push({
    target: `cold load <= ${COLD_LOAD_LIMIT}x a bare require('${COLD_LIBRARY}')`,
    value: `${coldRatio.toFixed(2)}x`,
    met: coldRatio <= COLD_LOAD_LIMIT,
  });
  const patch = rows.find((r) => r.name === PATCH_NEW)!.concurrent!;
  targets.push({
    target: `PATCH throughput with ${concurrency} workers >= ${THROUGHPUT_FLOOR_SHARE}x the floor server's`,
    value: `${patch.vsFloor}x`,
    met: patch.vsFloor! >= THROUGHPUT_FLOOR_SHARE,
  });
  return targets;
}
