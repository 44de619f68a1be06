import { randomUUID } from 'node:crypto';
import type { HttpRequest } from '@azure/functions';

/** What every response needs to know about the request it answers. */
export interface RequestContext {
  requestId: string;
  clientRequestId?: string;
  /** The request's origin plus its version prefix (`/v1.0` when none), for `@odata.context` and links. */
  serviceRoot: string;
}

const VERSION_PREFIX = /^\/(v1\.0|beta)(?=\/|$)/i;

// A client-request-id is echoed back, so it is bounded and kept to printable ASCII to stay a safe header.
const CLIENT_REQUEST_ID = /^[\x21-\x7e]{1,128}$/;

export function requestContextOf(request: HttpRequest): RequestContext {
  const url = new URL(request.url);
  const version = VERSION_PREFIX.exec(url.pathname)?.[1]?.toLowerCase() ?? 'v1.0';
  // Raw, not headerText(): only printable ASCII is ever echoed, so there is nothing to decode.
  const clientRequestId = request.headers.get('client-request-id') ?? undefined;
  return {
    requestId: randomUUID(),
    clientRequestId: clientRequestId && CLIENT_REQUEST_ID.test(clientRequestId) ? clientRequestId : undefined,
    serviceRoot: `${url.origin}/${version}`,
  };
}

/** Whether the request came under /beta, where Graph documents the '$' of query options as optional. */
export const isBeta = (rc: RequestContext): boolean => rc.serviceRoot.endsWith('/beta');
