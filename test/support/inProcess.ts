import { HttpRequest, InvocationContext } from '@azure/functions';

// For tests that call handlers in-process, as the Functions worker calls them.

export const quietContext = (functionName = 'test'): InvocationContext =>
  new InvocationContext({ functionName, logHandler: () => undefined });

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
