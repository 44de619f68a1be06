import type { HttpRequest } from '@azure/functions';
import { preconditionFailed } from '../errors/graphError';

/** RFC 9110 preconditions as the service supports them. */
export interface Preconditions {
  /** If-Match: an ETag, or '*' for "only if it exists". */
  ifMatch?: string;
  /** If-None-Match: '*' for "only if it does not exist", or an ETag. */
  ifNoneMatch?: string;
}

/**
 * The request's preconditions: If-Match and If-None-Match, and the body's `@odata.etag` (`bodyEtag`),
 * which OData clients send back with the object they read and which acts as If-Match. When both If-Match
 * and @odata.etag are given, both must hold: `If-Match: *` (the key exists) is implied by the ETag, and two
 * different ETags can never both match, so they are a 412 at once, whatever is stored.
 */
export function preconditionsOf(request: HttpRequest, bodyEtag?: string): Preconditions {
  const ifMatch = request.headers.get('if-match')?.trim() || undefined;
  const ifNoneMatch = request.headers.get('if-none-match')?.trim() || undefined;
  if (bodyEtag === undefined || ifMatch === bodyEtag) return { ifMatch, ifNoneMatch };
  if (ifMatch !== undefined && ifMatch !== '*') {
    throw preconditionFailed('If-Match and @odata.etag name different versions of the recovery key; no version can match both.');
  }
  return { ifMatch: bodyEtag, ifNoneMatch };
}
