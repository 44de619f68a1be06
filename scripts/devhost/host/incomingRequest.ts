// What the local host reads from a Node request before the function sees it: the URL (loopback Host
// only), headers and query as the worker hands them over, and the body within Azure's size limit.

import type { IncomingMessage } from 'node:http';

/** Azure's front end refuses request bodies over 100 MiB; so do we, so nothing works only locally. */
export const MAX_REQUEST_BODY_BYTES = 100 * 1024 * 1024;

/**
 * The Host values this host answers: a loopback name and a port, nothing else. It serves development
 * tokens and real keys on a developer's machine, so a web page whose own name was re-pointed at
 * 127.0.0.1 (DNS rebinding: same origin to the browser) must get nothing; and a Host that carries a
 * path, a query, a fragment or user info would otherwise rewrite the URL the function sees. Refused
 * with an empty 400, as Kestrel refuses a malformed Host under the Functions host.
 */
const LOOPBACK_AUTHORITY = /^(?:localhost|127(?:\.\d{1,3}){3}|\[::1\])(?::\d{1,5})?$/i;

/**
 * The request URL as the function sees it; undefined when the Host header is not a loopback authority or the
 * request target is not origin-form (RFC 9112 3.2.1). The target is appended to the origin, not resolved
 * against it: resolving `//other.example/v1.0/...` would make `other.example` the URL's host, and every
 * link the function writes would point there. Appended, the path keeps its `//`, which names no resource.
 */
export function requestUrl(req: IncomingMessage, fallbackHost: string): URL | undefined {
  const target = req.url ?? '/';
  const authority = req.headers.host ?? fallbackHost;
  if (!target.startsWith('/') || !LOOPBACK_AUTHORITY.test(authority)) return undefined;
  try {
    return new URL(`http://${authority}${target}`);
  } catch {
    return undefined;
  }
}

/** One string per header name, repeated headers joined as the host joins them (cookies with '; '). */
export function requestHeaders(req: IncomingMessage): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const [name, values] of Object.entries(req.headersDistinct)) {
    if (values) headers[name] = values.join(name === 'cookie' ? '; ' : ', ');
  }
  return headers;
}

/** The host hands the worker one string per query key, repeated keys joined with ','. */
export function requestQuery(url: URL): Record<string, string> {
  // No prototype: `?__proto__=1` must arrive as an option (and be refused as unknown), not vanish.
  const query = Object.create(null) as Record<string, string>;
  for (const key of new Set(url.searchParams.keys())) query[key] = url.searchParams.getAll(key).join(',');
  return query;
}

export class BodyTooLargeError extends Error {}
export class ClientGoneError extends Error {}

/**
 * The whole request body. Rejects with BodyTooLargeError past `limit` bytes (reading stops), and with
 * ClientGoneError when the request stream fails or closes before its end.
 */
export function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let ended = false;
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size > limit) {
        // Stop reading; the 413 goes out with Connection: close and the rest is never read.
        req.off('data', onData);
        req.pause();
        reject(new BodyTooLargeError());
        return;
      }
      chunks.push(chunk);
    };
    req.on('data', onData);
    req.once('end', () => {
      ended = true;
      resolve(Buffer.concat(chunks, size));
    });
    // A request stream only fails or closes early when the client went away (e.g. "aborted"). Every
    // request closes once read, so the error is built only for a close before the end: not per request.
    req.once('error', () => reject(new ClientGoneError()));
    req.once('close', () => {
      if (!ended) reject(new ClientGoneError());
    });
  });
}
