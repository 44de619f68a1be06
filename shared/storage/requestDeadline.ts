import { AsyncLocalStorage } from 'node:async_hooks';

// One storage deadline per HTTP request: graphHandler enters the scope, and the call policy
// (callPolicy.ts) ends every storage call of that request by it, whatever the number of calls.
// The deadline is fixed when the request makes its first storage call, `budgetMs` later: it bounds
// the time the request spends waiting on storage, which is what a hung or throttling storage
// stretches; the request's own work before it (token checks, body parsing) is not storage's to
// bound, and counting it would turn a busy CPU into 503s from a healthy storage.
// Work without a request (timers, scripts) has no scope, and each of its calls keeps its own budget.

const scope = new AsyncLocalStorage<{ budgetMs: number; deadline?: number }>();

/** Runs `work` with every storage call in it (and in what it starts) ending within `budgetMs` of the first one. */
export function withStorageBudget<T>(budgetMs: number, work: () => Promise<T>): Promise<T> {
  return scope.run({ budgetMs }, work);
}

/**
 * The deadline (epoch ms) of the request this code runs for, or undefined outside any request. The
 * first call of a request fixes it; every later call, concurrent ones included, gets the same.
 */
export function storageDeadline(): number | undefined {
  const request = scope.getStore();
  if (request === undefined) return undefined;
  request.deadline ??= Date.now() + request.budgetMs;
  return request.deadline;
}

/**
 * Runs `start` outside any request's deadline: for work a request schedules but does not wait for
 * (a timer that outlives the response), which must not inherit a deadline already spent.
 */
export function outsideStorageDeadline<T>(start: () => T): T {
  return scope.exit(start);
}
