import { RestError } from '@azure/core-rest-pipeline';
import { storageRetryAfterMs } from './retryAfter';
import type { TryOutcome } from './tryOnce';

/** Exponential backoff between tries (ms), with jitter (half to full): 100–200 ms, then 200–400 ms, at most 1 s. */
const RETRY_BASE_DELAY_MS = 200;
const RETRY_MAX_DELAY_MS = 1_000;

function backoffMs(retry: number): number {
  const ceiling = Math.min(RETRY_MAX_DELAY_MS, RETRY_BASE_DELAY_MS * 2 ** retry);
  return ceiling / 2 + Math.random() * (ceiling / 2);
}

/**
 * How long (ms) to wait before try number `retry + 2`, or undefined when the outcome is final: a
 * success, or an answer the caller acts on (404, 409, 412 …). Retried: no HTTP answer at all (refused,
 * reset, unresolvable, timed out), 408, 500, 502, 504 after a backoff, and throttling (429, 503) never
 * sooner than the storage's Retry-After. Whether the wait fits the budget is the call policy's to judge.
 */
export function retryDelayMs(outcome: TryOutcome, retry: number): number | undefined {
  const status = outcome.response?.status;
  if (status === undefined) return outcome.error instanceof RestError ? backoffMs(retry) : undefined;
  if (status === 429 || status === 503) return Math.max(storageRetryAfterMs(outcome.response) ?? 0, backoffMs(retry));
  if (status === 408 || status === 500 || status === 502 || status === 504) return backoffMs(retry);
  return undefined;
}
