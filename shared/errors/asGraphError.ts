import { StorageError } from '../storage/storageError';
import { conflict, GraphError, notFound, preconditionFailed, serviceUnavailable } from './graphError';

/**
 * The one place a storage outcome that escaped its use case becomes Graph's answer; anything else is
 * returned as it is. Storage unavailable, throttling or refusing our credentials is a 503 with
 * Retry-After (throttling too, not a 429: the service is busy for everyone, not this caller over a quota
 * of its own), carrying the failed call's details for graphHandler's `dependencyFailure` log line. An
 * escaped version conflict, duplicate or absence answers as Graph does for the entity: 412, 409, 404.
 */
export function asGraphError(error: unknown): unknown {
  if (!(error instanceof StorageError)) return error;
  switch (error.kind) {
    case 'versionMoved':
      return preconditionFailed(`${error.subject} has changed since the ETag given in If-Match.`);
    case 'exists':
      return conflict(`${error.subject} already exists.`);
    case 'gone':
      return notFound(`${error.subject} was not found.`);
    case 'throttled':
    case 'unavailable':
    case 'denied': {
      const unavailable: GraphError = serviceUnavailable(error.message, error.retryAfterSeconds);
      unavailable.logDetails = error.details;
      return unavailable;
    }
  }
}
