import { HttpRequest, InvocationContext, type HttpResponseInit } from '@azure/functions';
import type { GraphJson } from './client';

// For tests that call handlers in-process, as the Functions worker calls them.

/** A context whose log lines are never printed; with `logs`, each is appended there (its arguments joined by spaces). */
export const quietContext = (functionName = 'test', logs?: string[]): InvocationContext =>
  new InvocationContext({ functionName, logHandler: (_level, ...args) => logs?.push(args.map(String).join(' ')) });

/**
 * A request to the local host's URL space; `bearer` becomes the Authorization header, `body` JSON.
 * `headers` (lower-case names) are added last, so they may also replace the Authorization header.
 */
export function handlerRequest(
  method: string,
  path: string,
  bearer: string | undefined,
  body?: unknown,
  id?: string,
  extraHeaders: Record<string, string> = {},
): HttpRequest {
  const headers: Record<string, string> = {};
  if (bearer !== undefined) headers.authorization = `Bearer ${bearer}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  Object.assign(headers, extraHeaders);
  return new HttpRequest({
    method,
    url: `http://127.0.0.1:7071${path}`,
    headers,
    params: id ? { id } : {},
    body: body === undefined ? undefined : { string: JSON.stringify(body) },
  });
}

/** A handler's response body as text: the handlers answer with a string (JSON) or with no body (''). */
export function bodyText(response: HttpResponseInit): string {
  const { body } = response;
  if (body === undefined || body === null) return '';
  if (typeof body !== 'string') throw new Error(`expected a string body, got ${Object.prototype.toString.call(body)}`);
  return body;
}

/** A handler's JSON response body, parsed (throws when it is not JSON). */
export const bodyJson = (response: HttpResponseInit): GraphJson => JSON.parse(bodyText(response)) as GraphJson;
