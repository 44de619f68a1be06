import { AsyncLocalStorage } from 'node:async_hooks';

// One storage deadline per HTTP request: graphHandler enters the scope, and the call policy
// (callPolicy.ts) ends every storage call of that request by it, whatever the number of calls.
// Work without a request (timers, scripts) has no scope, and each of its calls keeps its own budget.

const scope = new AsyncLocalStorage<{ deadline: number }>();

/** Runs `work` with every storage call in it (and in what it starts) ending by `deadline` (epoch ms). */
export function withStorageDeadline<T>(deadline: number, work: () => Promise<T>): Promise<T> {
  return scope.run({ deadline }, work);
}

/** The deadline (epoch ms) of the request this code runs for, or undefined outside any request. */
export function storageDeadline(): number | undefined {
  return scope.getStore()?.deadline;
}

/**
 * Runs `start` outside any request's deadline: for work a request schedules but does not wait for
 * (a timer that outlives the response), which must not inherit a deadline already spent.
 */
export function outsideStorageDeadline<T>(start: () => T): T {
  return scope.exit(start);
}
