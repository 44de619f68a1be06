import type { HttpHandler, HttpRequest, HttpResponseInit, InvocationContext } from '@azure/functions';
import { withoutSecretsFrom } from '../redact';
import { STORAGE_REQUEST_BUDGET_MS } from '../storage/callLimits';
import { withStorageBudget } from '../storage/requestDeadline';
import { asGraphError } from '../errors/asGraphError';
import { GraphError, notFound } from '../errors/graphError';
import { logFields } from './logFields';
import { type RequestContext, requestContextOf } from './requestContext';
import { errorResponse, internalErrorResponse } from './responses';

export type GraphOperation = (
  request: HttpRequest,
  requestContext: RequestContext,
  context: InvocationContext,
) => Promise<HttpResponseInit>;

/**
 * Describes an unexpected error for the log without its message: messages of storage or library
 * errors can carry request URLs, entity content or other data that must not reach a log.
 */
function describeUnexpected(error: unknown): Record<string, unknown> {
  if (!(error instanceof Error)) return { type: typeof error };
  const { code, statusCode } = error as { code?: unknown; statusCode?: unknown };
  const frames = (error.stack ?? '')
    .split('\n')
    .slice(1, 6)
    .map((line) => line.trim());
  return { type: error.name, code, statusCode, frames };
}

function logPath(url: string): string {
  const { pathname } = new URL(url);
  return withoutSecretsFrom(pathname, sentText(url));
}

/** The text a client put in the URL, decoded as the parsers read it: path segments and query options. */
function sentText(url: string): string {
  const { pathname, searchParams } = new URL(url);
  let path = pathname;
  try {
    path = decodeURIComponent(pathname);
  } catch {
    // Not percent-encoding the parsers could read either: as sent.
  }
  return [path, ...[...searchParams].flat()].join('\n');
}

/**
 * A request line whose path starts with `//` (`GET //evil.example/v1.0/...`) would be read as a
 * scheme-relative URL by anything that resolves it, and its links would point at another host.
 * It names no resource of ours: Graph-shaped 404.
 */
function refuseDoubleSlash(request: HttpRequest): void {
  if (new URL(request.url).pathname.startsWith('//')) throw notFound('No resource matches a path that begins with //.');
}

/**
 * Wraps an operation with the request id, Graph-shaped errors (storage outcomes included: asGraphError),
 * one storage deadline for the whole request (STORAGE_REQUEST_BUDGET_MS) and one log line per request.
 */
export function graphHandler(operation: GraphOperation): HttpHandler {
  return async (request, context) => {
    const requestContext = requestContextOf(request);
    const started = Date.now();
    const fields = logFields(context, requestContext.requestId);
    let response: HttpResponseInit;
    try {
      refuseDoubleSlash(request);
      response = await withStorageBudget(STORAGE_REQUEST_BUDGET_MS, () => operation(request, requestContext, context));
    } catch (thrown) {
      const error = asGraphError(thrown);
      if (error instanceof GraphError) {
        response = errorResponse(requestContext, error, sentText(request.url));
        // The cause of a 503 (which storage call, which error code, how long), never its URL or content.
        if (error.logDetails)
          context.warn(JSON.stringify({ event: 'dependencyFailure', ...fields, status: error.status, cause: error.logDetails }));
      } else {
        context.error(JSON.stringify({ event: 'unexpectedError', ...fields, error: describeUnexpected(error) }));
        response = internalErrorResponse(requestContext);
      }
    }
    context.log(
      JSON.stringify({
        event: 'request',
        ...fields,
        method: request.method,
        // A recovery password pasted where a key id belongs must not reach the log, nor any group of it
        // (a digit typed before it hides it from the plain mask).
        path: logPath(request.url),
        status: response.status,
        ms: Date.now() - started,
      }),
    );
    return response;
  };
}
