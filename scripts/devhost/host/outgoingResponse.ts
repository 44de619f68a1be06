// Writing a function's result to the Node response the way the worker and the host do: an empty 200 for
// no result, the whole body buffered, cookies as Set-Cookie, no body for 204/205/304 or HEAD.

import type { ServerResponse } from 'node:http';
import { HttpResponse, type Cookie } from '@azure/functions';

const NO_BODY_STATUSES: ReadonlySet<number> = new Set([204, 205, 304]);

function serializeCookie(cookie: Cookie): string {
  const parts = [`${cookie.name}=${cookie.value}`];
  if (cookie.domain) parts.push(`Domain=${cookie.domain}`);
  if (cookie.path) parts.push(`Path=${cookie.path}`);
  if (cookie.expires !== undefined) parts.push(`Expires=${new Date(cookie.expires).toUTCString()}`);
  if (cookie.maxAge !== undefined) parts.push(`Max-Age=${cookie.maxAge}`);
  if (cookie.secure) parts.push('Secure');
  if (cookie.httpOnly) parts.push('HttpOnly');
  if (cookie.sameSite) parts.push(`SameSite=${cookie.sameSite}`);
  return parts.join('; ');
}

/** A response with `status` and no body (Content-Length: 0 where a body could be). */
export function sendEmpty(res: ServerResponse, status: number): void {
  res.statusCode = status;
  if (!NO_BODY_STATUSES.has(status)) res.setHeader('content-length', '0');
  res.end();
}

/** @throws TypeError for a result that is not an object, as the worker refuses one. */
export async function sendResult(res: ServerResponse, method: string, result: unknown): Promise<void> {
  // The worker hands the host no response for undefined/null, and the host answers an empty 200.
  if (result === undefined || result === null) {
    sendEmpty(res, 200);
    return;
  }
  if (typeof result !== 'object') {
    throw new TypeError('The HTTP response must be an object with optional properties "body", "status", "headers", and "cookies".');
  }
  const response = result instanceof HttpResponse ? result : new HttpResponse(result);
  // The worker also buffers the whole body before handing it to the host (no HTTP streaming).
  const body = Buffer.from(await response.arrayBuffer());

  res.statusCode = response.status;
  response.headers.forEach((value, name) => {
    if (name !== 'set-cookie') res.setHeader(name, value);
  });
  const cookies = [...response.headers.getSetCookie(), ...response.cookies.map(serializeCookie)];
  if (cookies.length > 0) res.setHeader('set-cookie', cookies);
  res.removeHeader('transfer-encoding');

  if (NO_BODY_STATUSES.has(response.status)) {
    res.removeHeader('content-length');
    res.end();
    return;
  }
  res.setHeader('content-length', String(body.length));
  res.end(method === 'HEAD' ? undefined : body);
}
