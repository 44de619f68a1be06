import { setTimeout as sleep } from 'node:timers/promises';
import { GraphCallFailed } from './errors';

// For jobs that can afford to wait (the Entra mirror), unlike a device's request: Graph's throttling
// answers (429, 503) and dropped connections are waited out and tried again, as long as Graph asks,
// within the job's own deadline. GraphClient already waits out short Retry-Afters itself; what reaches
// this loop is a longer Retry-After, or a 503 or dropped connection without one.

/** Tries of one call, the first included. */
export const PATIENT_MAX_TRIES = 8;
/** Waits when Graph names none: 1, 2, 4, … seconds, up to this. */
export const PATIENT_MAX_BACKOFF_MS = 30_000;

/** The deadline would pass before Graph's wait is over: the call was not tried again. */
export class DeadlineReached extends Error {
  override name = 'DeadlineReached';
}

const retryable = (error: unknown): error is GraphCallFailed =>
  error instanceof GraphCallFailed && (error.status === undefined || error.status === 429 || error.status === 503);

/**
 * `call()`, tried again after each retryable failure: after Graph's Retry-After when it sent one (never
 * sooner), else after a growing backoff. Throws the last GraphCallFailed after PATIENT_MAX_TRIES, other
 * errors at once, and DeadlineReached when the wait would end after `deadline` (epoch ms).
 */
export async function patiently<T>(call: () => Promise<T>, deadline: number): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await call();
    } catch (error) {
      if (!retryable(error) || attempt >= PATIENT_MAX_TRIES) throw error;
      const waitMs =
        error.retryAfterSeconds !== undefined
          ? error.retryAfterSeconds * 1000
          : Math.min(PATIENT_MAX_BACKOFF_MS, 1000 * 2 ** (attempt - 1));
      if (Date.now() + waitMs > deadline)
        throw new DeadlineReached(`Microsoft Graph asked to wait ${Math.ceil(waitMs / 1000)} s, past the run's time budget.`);
      await sleep(waitMs);
    }
  }
}
