import type { HttpRequest } from '@azure/functions';

/** RFC 9110 preconditions as the service supports them. */
export interface Preconditions {
  /** If-Match: an ETag, or '*' for "only if it exists". */
  ifMatch?: string;
  /** If-None-Match: '*' for "only if it does not exist", or an ETag. */
  ifNoneMatch?: string;
}

export function preconditionsOf(request: HttpRequest): Preconditions {
  return {
    ifMatch: request.headers.get('if-match')?.trim() || undefined,
    ifNoneMatch: request.headers.get('if-none-match')?.trim() || undefined,
  };
}
