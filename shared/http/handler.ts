import type { HttpHandler, HttpRequest, HttpResponseInit, InvocationContext } from '@azure/functions';
import { withoutSecrets } from '../redact';
import { GraphError } from './graphError';
import { type RequestContext, requestContextOf } from './requestContext';
import { errorResponse, internalErrorResponse } from './responses';

export type GraphOperation = (
  request: HttpRequest,
  rc: RequestContext,
  context: InvocationContext,
) => Promise<HttpResponseInit>;

/**
 * Describes an unexpected error for the log without its message: messages of storage or library
 * errors can carry request URLs, entity content or other data that must not reach a log.
 */
function describeUnexpected(error: unknown): Record<string, unknown> {
  if (!(error instanceof Error)) return { type: typeof error };
  const { code, statusCode } = error as { code?: unknown; statusCode?: unknown };
  const frames = (error.stack ?? '').split('\n').slice(1, 6).map((line) => line.trim());
  return { type: error.name, code, statusCode, frames };
}

/** Wraps an operation with the request id, Graph-shaped errors and one log line per request. */
export function graphHandler(operation: GraphOperation): HttpHandler {
  return async (request, context) => {
    const rc = requestContextOf(request);
    const started = Date.now();
    let response: HttpResponseInit;
    try {
      response = await operation(request, rc, context);
    } catch (error) {
      if (error instanceof GraphError) {
        response = errorResponse(rc, error);
      } else {
        context.error(JSON.stringify({ event: 'unexpectedError', requestId: rc.requestId, error: describeUnexpected(error) }));
        response = internalErrorResponse(rc);
      }
    }
    context.log(
      JSON.stringify({
        event: 'request',
        requestId: rc.requestId,
        method: request.method,
        // A recovery password pasted where a key id belongs must not reach the log.
        path: withoutSecrets(new URL(request.url).pathname),
        status: response.status,
        ms: Date.now() - started,
      }),
    );
    return response;
  };
}
