import type { RetryStrategy } from '@azure/core-rest-pipeline';
import { storageRetryAfterMs } from '../storage/retryAfter';
import { GraphCallFailed } from './errors';

/**
 * Honours Graph's 429/503 Retry-After (seconds, a date, or retry-after-ms: the same header rules as
 * the storage client's) when the wait is at most `maxWaitMs`; a longer wait ends the call at once with
 * GraphCallFailed carrying Graph's Retry-After, so that our caller is told when to come back instead of
 * being held. (core-rest-pipeline's own throttling strategy waits whatever Graph asks.)
 * Anything else is not this strategy's to retry.
 */
export function boundedThrottlingStrategy(maxWaitMs: number): RetryStrategy {
  return {
    name: 'graphBoundedThrottling',
    retry({ response }) {
      const waitMs = storageRetryAfterMs(response);
      if (waitMs === undefined) return { skipStrategy: true };
      if (waitMs > maxWaitMs) {
        return {
          errorToThrow: new GraphCallFailed('Microsoft Graph is throttling.', response?.status, Math.max(1, Math.ceil(waitMs / 1000))),
        };
      }
      return { retryAfterInMs: waitMs };
    },
  };
}
