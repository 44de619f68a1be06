import { RestError } from '@azure/core-rest-pipeline';
import { storageFailureOf, type StorageFailure } from './failure';
import { forgetCreatedTables, isTableNotFound } from './createdTables';
import { storageRetryAfterMs } from './retryAfter';

/**
 * What a storage call came to, when it did not succeed, in the terms a use case acts on:
 * - `versionMoved`: an ETag-guarded write found another version (Table service 412);
 * - `exists`: an insert found the entity there already (409);
 * - `gone`: the entity is not there (404);
 * - `throttled`: storage is busy (429, 503), retrying did not fit the budget;
 * - `unavailable`: no answer (refused, reset, timed out), a server-side failure (408, 500, 502, 504),
 *   or no token for storage at all;
 * - `denied`: storage refused the service's own credentials (401, 403).
 */
export type StorageErrorKind = 'versionMoved' | 'exists' | 'gone' | 'throttled' | 'unavailable' | 'denied';

/** Retry-After (s) when storage is unreachable or hung: outages outlast a few seconds, and thousands of devices coming back at once would not help it recover. */
export const UNREACHABLE_RETRY_AFTER_S = 10;
/** Retry-After (s) when storage throttles without saying for how long. */
export const BUSY_RETRY_AFTER_S = 5;
/** A storage Retry-After is passed on as is, up to this (s; a longer one is a misbehaving proxy). */
const MAX_RETRY_AFTER_S = 300;

/** Which call failed and how, for the log (never a URL, a key or an entity); `call` is `token` when no token could be had. */
export type StorageErrorDetails = Pick<StorageFailure, 'call' | 'code'> & Partial<StorageFailure>;

/** A storage outcome that ended a call. Messages are fit for a client; details are for the log only. */
export class StorageError extends Error {
  override name = 'StorageError';

  constructor(
    readonly kind: StorageErrorKind,
    message: string,
    /** What the call was about, as a sentence's subject ('The recovery key'), for the answer an escaped outcome becomes. */
    readonly subject: string,
    /** When to try again (whole seconds, ≥ 1): set for throttled, unavailable and denied. */
    readonly retryAfterSeconds?: number,
    readonly details?: StorageErrorDetails,
  ) {
    super(message);
  }
}

/** @azure/identity's failures to get a token (names, not classes, so that no instance check crosses package copies). */
function isCredentialFailure(error: unknown): boolean {
  return (
    error instanceof Error &&
    (error.name === 'CredentialUnavailableError' || error.name === 'AuthenticationError' || error.name === 'AggregateAuthenticationError')
  );
}

/** The kind of a storage failure: a StorageError's own, a RestError's by status, a credential failure's; undefined for anything else. */
export function storageErrorKindOf(error: unknown): StorageErrorKind | undefined {
  if (error instanceof StorageError) return error.kind;
  if (isCredentialFailure(error)) return 'unavailable';
  if (!(error instanceof RestError)) return undefined;
  // The table itself is missing, not the entity: storage lost what this process created. No entity's
  // absence can be read from that; it is forgotten here, where every storage failure is classified,
  // so that the next call creates the table again.
  if (isTableNotFound(error)) {
    forgetCreatedTables();
    return 'unavailable';
  }
  switch (error.statusCode) {
    case 401:
    case 403:
      return 'denied';
    case 404:
      return 'gone';
    case 409:
      return 'exists';
    case 412:
      return 'versionMoved';
    case 429:
    case 503:
      return 'throttled';
    case undefined:
    case 408:
    case 500:
    case 502:
    case 504:
      return 'unavailable';
    default:
      return undefined;
  }
}

/** Whether `error` is a storage failure of one of `kinds` (a StorageError, or a RestError straight from the SDK). */
export function isStorageError(error: unknown, ...kinds: StorageErrorKind[]): boolean {
  const kind = storageErrorKindOf(error);
  return kind !== undefined && kinds.includes(kind);
}

function retryAfterSeconds(error: unknown, fallback: number): number {
  const ms = error instanceof RestError ? storageRetryAfterMs(error.response) : undefined;
  if (ms === undefined) return fallback;
  return Math.min(MAX_RETRY_AFTER_S, Math.max(1, Math.ceil(ms / 1000)));
}

function detailsOf(cause: unknown): StorageErrorDetails {
  // A failure the call policy did not see happened before any request: getting the token.
  return (
    storageFailureOf(cause) ?? {
      call: isCredentialFailure(cause) ? 'token' : 'unknown',
      code: cause instanceof Error ? cause.name : typeof cause,
    }
  );
}

/**
 * A storage failure as a StorageError about `subject`; anything else (a bug, a status no use case acts
 * on, such as 400) is returned as it is, to surface as an unexpected error. Throttling keeps the storage's
 * Retry-After (capped at 300 s) when it sent one. Never throws.
 */
export function toStorageError(error: unknown, subject = 'The recovery key'): unknown {
  const kind = storageErrorKindOf(error);
  if (kind === undefined || error instanceof StorageError) return error;
  switch (kind) {
    case 'versionMoved':
      return new StorageError(kind, `${subject} has changed since it was read.`, subject);
    case 'exists':
      return new StorageError(kind, `${subject} already exists.`, subject);
    case 'gone':
      return new StorageError(kind, `${subject} was not found.`, subject);
    case 'throttled':
      return new StorageError(
        kind,
        'Storage is busy; try again shortly.',
        subject,
        retryAfterSeconds(error, BUSY_RETRY_AFTER_S),
        detailsOf(error),
      );
    case 'denied':
      // A missing role assignment, a token storage does not accept: nothing the caller did or can fix.
      return new StorageError(
        kind,
        "Storage refused the service's credentials; try again later.",
        subject,
        UNREACHABLE_RETRY_AFTER_S,
        detailsOf(error),
      );
    case 'unavailable':
      return new StorageError(kind, 'Storage is unreachable; try again shortly.', subject, UNREACHABLE_RETRY_AFTER_S, detailsOf(error));
  }
}
