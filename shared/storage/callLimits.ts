// Storage faults: every storage call ends within a bounded time (docs/storage.md).
//
// A caller (a device escrowing a key, a helpdesk tool reading one) is waiting on the other end, so
// an unreachable, hung or throttling Table service must turn into a prompt 503 with Retry-After,
// never a request that hangs until the Functions host's own timeout (minutes). The SDK's default
// retry policy cannot promise that (see callPolicy.ts), so these numbers bound every call instead.

/**
 * One try gets at most this long (ms), measured to the end of the response body (an abort signal, not
 * the HTTP client's `request.timeout`, which stops counting once the headers arrived). Table
 * point operations within a region answer in milliseconds and our queries are partition-scoped, so
 * a try still silent after 2 s is facing a dead connection or a sick node, and a fresh try on a
 * new connection is the better bet than more waiting.
 */
export const STORAGE_TRY_TIMEOUT_MS = 2_000;
/**
 * The whole call, all tries and the waits between them, ends within this budget (ms): the try in flight
 * is cut short at the deadline and no retry starts that could not finish before it. 4 s leaves room
 * under the ~5 s a waiting client is promised for request handling and the response itself, and still
 * allows a second try after one that hung for the full per-try timeout.
 */
export const STORAGE_CALL_BUDGET_MS = 4_000;
/**
 * All storage calls of one HTTP request together end within this budget (ms), counted from the
 * request's first storage call (requestDeadline.ts says why not from its arrival). Without it, a request whose storage
 * answers some calls slowly and hangs on others could take several call budgets in a row; with it,
 * the ~5 s promise holds for the request, not only for each call. The same 4 s as one call: a request
 * in good health spends milliseconds on storage, whatever number of calls it makes.
 */
export const STORAGE_REQUEST_BUDGET_MS = 4_000;
/** Three tries: one transient fault (a reset connection, a failover, a 500) rarely comes alone, three rarely in a row. */
export const STORAGE_MAX_TRIES = 3;

/** The bounds of one storage call (ms, ms, count); tests and the bench pass tighter or looser ones. */
export interface StorageCallLimits {
  tryTimeoutMs: number;
  callBudgetMs: number;
  maxTries: number;
}

export const DEFAULT_STORAGE_CALL_LIMITS: StorageCallLimits = {
  tryTimeoutMs: STORAGE_TRY_TIMEOUT_MS,
  callBudgetMs: STORAGE_CALL_BUDGET_MS,
  maxTries: STORAGE_MAX_TRIES,
};
