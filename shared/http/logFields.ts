import type { InvocationContext } from '@azure/functions';

/**
 * The fields every log line of an invocation starts with, so that Application Insights can find them.
 * The Functions host records context.log/warn/error lines as `traces` with the invocation's
 * operation_Id (the W3C trace id of its traceparent) and operation_Name (the function); the JSON
 * message repeats both with our request-id, so that
 * `traces | extend m = parse_json(message) | where m.requestId == "…"` finds a request's lines.
 */
export function logFields(context: InvocationContext, requestId: string): Record<string, unknown> {
  const operationId = /^[0-9a-f]{2}-([0-9a-f]{32})-/.exec(context.traceContext?.traceParent ?? '')?.[1];
  return { requestId, operation: context.functionName, invocationId: context.invocationId, operationId };
}
