import { setTimeout as sleep } from 'node:timers/promises';
import type { PipelinePolicy, RestError } from '@azure/core-rest-pipeline';
import { DEFAULT_STORAGE_CALL_LIMITS, type StorageCallLimits } from './callLimits';
import { describeStorageCall, noteFailure } from './failure';
import { storageDeadline } from './requestDeadline';
import { retryDelayMs } from './retryDecision';
import { tryOnce, type TryOutcome } from './tryOnce';

// Why our own loop and not core-rest-pipeline's retryPolicy (checked against 1.24.0, which delegates to
// @typespec/ts-http-runtime): its loop has no per-try timeout (a storage that accepts the connection
// and never answers holds a request forever), no deadline for the call (only the request's abort
// signal, which ends it with an AbortError instead of the storage failure), and its strategies see
// neither the request nor the time spent, so none can weigh a wait against a budget; its
// throttlingRetryStrategy waits whatever Retry-After the service sends (a `Retry-After: 30` would hold
// the caller 30 s per retry). So the SDK's retries are switched off (clientOptions.ts) and this
// policy does the retrying, the loop here and the decision in retryDecision.ts.

/** A retry is not started with less than this left (ms): it could hardly succeed in time. */
const MIN_TRY_MS = 300;

function errorCodeOf(outcome: TryOutcome): string | undefined {
  const header = outcome.response?.headers.get('x-ms-error-code');
  if (header) return header;
  const code = outcome.error?.code;
  return typeof code === 'string' ? code : undefined;
}

/**
 * The retry policy of every storage call: per-try timeout, a budget for the whole call, ended earlier
 * by the deadline of the request it runs for (requestDeadline.ts), exponential backoff with jitter, and
 * a storage Retry-After honoured when it fits and otherwise passed on (StorageError.retryAfterSeconds).
 * Throws the last try's RestError, its diagnostics noted for storageFailureOf (failure.ts).
 */
export function storageCallPolicy(limits: StorageCallLimits = DEFAULT_STORAGE_CALL_LIMITS): PipelinePolicy {
  return {
    name: 'escrowStorageCallPolicy',
    async sendRequest(request, next) {
      const started = Date.now();
      const deadline = Math.min(started + limits.callBudgetMs, storageDeadline() ?? Infinity);
      for (let tries = 1; ; tries++) {
        const outcome = await tryOnce(request, next, Math.min(limits.tryTimeoutMs, deadline - Date.now()));
        const wait = retryDelayMs(outcome, tries - 1);
        const final =
          wait === undefined ||
          tries >= limits.maxTries ||
          Date.now() + wait + MIN_TRY_MS > deadline ||
          request.abortSignal?.aborted === true;
        if (!final) {
          await sleep(wait);
          continue;
        }
        if (outcome.error === undefined) return outcome.response!;
        const error: RestError = outcome.error;
        noteFailure(error, {
          call: describeStorageCall(request),
          code: errorCodeOf(outcome),
          status: outcome.response?.status,
          tries,
          ms: Date.now() - started,
        });
        throw error;
      }
    },
  };
}
