import type { HttpResponseInit } from '@azure/functions';
import { withoutSecretsFrom } from '../redact';
import { GraphError } from '../errors/graphError';
import type { RequestContext } from './requestContext';

export type JsonObject = { [key: string]: unknown };

function correlationHeaders(requestContext: RequestContext): Record<string, string> {
  const headers: Record<string, string> = { 'request-id': requestContext.requestId };
  if (requestContext.clientRequestId) headers['client-request-id'] = requestContext.clientRequestId;
  return headers;
}

export function jsonResponse(
  requestContext: RequestContext,
  status: number,
  body: JsonObject,
  headers: Record<string, string> = {},
): HttpResponseInit {
  return {
    status,
    headers: {
      'Content-Type': 'application/json; odata.metadata=minimal; odata.streaming=true; charset=utf-8',
      'Cache-Control': 'no-store',
      ...correlationHeaders(requestContext),
      ...headers,
    },
    body: JSON.stringify(body),
  };
}

export function emptyResponse(requestContext: RequestContext, status: number, headers: Record<string, string> = {}): HttpResponseInit {
  return { status, headers: { ...correlationHeaders(requestContext), ...headers } };
}

/**
 * Graph's error body: `date` has no fraction and no zone, as Graph writes it. `sent` is the client's
 * own text (the request's decoded path and query): when it held a recovery password, no group of it
 * may come back in a message that repeats a fragment (redact.ts withoutSecretsFrom).
 */
export function errorResponse(requestContext: RequestContext, error: GraphError, sent = ''): HttpResponseInit {
  const innerError: Record<string, string> = {
    date: new Date().toISOString().slice(0, 19),
    'request-id': requestContext.requestId,
  };
  if (requestContext.clientRequestId) innerError['client-request-id'] = requestContext.clientRequestId;
  return jsonResponse(
    requestContext,
    error.status,
    // Messages may repeat the client's text; a recovery password pasted into a URL is not sent back
    // through proxies and gateways that log responses.
    { error: { code: error.code, message: withoutSecretsFrom(error.message, sent), innerError } },
    { ...error.headers },
  );
}

export function internalErrorResponse(requestContext: RequestContext): HttpResponseInit {
  return errorResponse(
    requestContext,
    new GraphError(500, 'generalException', 'An unexpected error occurred. Quote the request-id when reporting it.'),
  );
}
