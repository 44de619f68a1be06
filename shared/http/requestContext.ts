import { randomUUID } from 'node:crypto';
import type { HttpRequest } from '@azure/functions';
import { settings } from '../config';

/** What every response needs to know about the request it answers. */
export interface RequestContext {
  requestId: string;
  clientRequestId?: string;
  /** The public base (PUBLIC_BASE_URL, or the request's origin) plus the version prefix (`/v1.0` when none), for `@odata.context`. */
  serviceRoot: string;
  /** PUBLIC_BASE_URL when set, else the request's origin; no trailing slash. Every link starts with it. */
  publicBase: string;
}

const VERSION_PREFIX = /^\/(v1\.0|beta)(?=\/|$)/i;

// A client-request-id is echoed back, so it is bounded and kept to printable ASCII to stay a safe header.
const CLIENT_REQUEST_ID = /^[\x21-\x7e]{1,128}$/;

export function requestContextOf(request: HttpRequest): RequestContext {
  const url = new URL(request.url);
  const version = VERSION_PREFIX.exec(url.pathname)?.[1]?.toLowerCase() ?? 'v1.0';
  // Raw, not headerText(): only printable ASCII is ever echoed, so there is nothing to decode.
  const clientRequestId = request.headers.get('client-request-id') ?? undefined;
  // Host and X-Forwarded-* are never trusted for links: behind a gateway only the setting is right.
  const publicBase = settings().publicBaseUrl ?? url.origin;
  return {
    requestId: randomUUID(),
    clientRequestId: clientRequestId && CLIENT_REQUEST_ID.test(clientRequestId) ? clientRequestId : undefined,
    serviceRoot: `${publicBase}/${version}`,
    publicBase,
  };
}

/**
 * The request's own path and query under the public base, as a URL to edit (e.g. `$skiptoken`) and
 * write into a response: `@odata.nextLink`, `Location`.
 */
export function publicUrlOf(request: HttpRequest, requestContext: RequestContext): URL {
  const url = new URL(request.url);
  return new URL(`${requestContext.publicBase}${url.pathname}${url.search}`);
}

/** The public URL of `id` created in the collection the request was sent to: a 201's Location. */
export function createdLocation(request: HttpRequest, requestContext: RequestContext, id: string): string {
  const collection = publicUrlOf(request, requestContext);
  return `${collection.origin}${collection.pathname.replace(/\/+$/, '')}/${id}`;
}

/** Whether the request came under /beta, where Graph documents the '$' of query options as optional. */
export const isBeta = (requestContext: RequestContext): boolean => requestContext.serviceRoot.endsWith('/beta');
