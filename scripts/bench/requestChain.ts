// How storage requests are named (by table) and how those of one operation line up in time: the longest chain of requests made one
// after another (each a network round trip the caller waits for, in Table Storage), and the time with
// at least one of them in flight. Shared by the benchmark's in-process counter and the tests' counting
// proxy, so that both count "in a row" the same way.

/**
 * The table a Table service request is about, from its path: `/account/Table(...)`,
 * `/account/Table()?$filter`, `/account/$batch` (a transaction), `/account/Tables` (create table).
 */
export function tableOf(path: string): string {
  const match = /^\/[^/]+\/([^(/?]+)/.exec(path);
  return match ? decodeURIComponent(match[1]) : path;
}

/** One request's life: [start, end] in milliseconds on any one clock. */
export type Interval = readonly [start: number, end: number];

/**
 * The most requests that do not overlap (earliest end first, the classic greedy that is optimal for
 * interval scheduling): 3 for `a > (b | c) > d` where b and c overlap. 0 for no requests.
 */
export function longestChain(intervals: readonly Interval[]): number {
  let chain = 0;
  let lastEnd = -Infinity;
  for (const [start, end] of [...intervals].sort((a, b) => a[1] - b[1])) {
    if (start >= lastEnd) {
      chain++;
      lastEnd = end;
    }
  }
  return chain;
}

/** Milliseconds with at least one request in flight: the length of the union of the intervals. */
export function busyMs(intervals: readonly Interval[]): number {
  let busy = 0;
  let from = -Infinity;
  let to = -Infinity;
  for (const [start, end] of [...intervals].sort((a, b) => a[0] - b[0])) {
    if (start > to) {
      if (to > from) busy += to - from;
      from = start;
      to = end;
    } else {
      to = Math.max(to, end);
    }
  }
  if (to > from) busy += to - from;
  return busy;
}
