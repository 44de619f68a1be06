import { createHash } from 'node:crypto';

/** The first line of every canonical string: the protocol's version. */
export const PROOF_VERSION = 'EntraDevice-v1';

/** What a device signs, apart from its certificate. */
export interface SignedRequest {
  /** HTTP method; upper-cased here. */
  method: string;
  /** Path and query as on the request line (e.g. `/v1.0/bitlocker/recoveryKeys?%24filter=...`); signed in canonical form. */
  pathAndQuery: string;
  ts: string;
  nonce: string;
  /** The body bytes as sent (empty when there is none). */
  body: Uint8Array;
}

/** Lower-case hex SHA-256 of the body (of the empty string when there is no body). */
export const bodyHash = (body: Uint8Array): string => createHash('sha256').update(body).digest('hex');

/** Characters a canonical path and query holds as they are: RFC 3986 unreserved, and the delimiters whose raw and escaped forms differ in meaning. */
const KEPT_OR_ESCAPE = /%([0-9A-Fa-f]{2})|[^A-Za-z0-9\-._~/?&=$:@,;+]/gu;
const UNRESERVED = /^[A-Za-z0-9\-._~]$/;

const escapeUtf8 = (text: string): string =>
  [...Buffer.from(text, 'utf8')].map((byte) => `%${byte.toString(16).toUpperCase().padStart(2, '0')}`).join('');

/**
 * The one form both ends sign a path and query in, so that what runtimes and proxies re-escape on
 * the way cannot break a proof: Windows PowerShell 5.1's Uri escaper leaves `'`, `!`, `*`, `(` and
 * `)` raw, PowerShell 7's escapes them, and the WHATWG URL the service parses with escapes `'` in
 * a query but not the others. Every character outside A-Z a-z 0-9 `-._~` and `/?&=$:@,;+` is
 * percent-encoded as UTF-8 (a `%` that starts no escape too), every escape of an unreserved character
 * is decoded, every other escape is written in upper case, and a `?` with no query after it is
 * dropped (WHATWG URL drops it). Idempotent; an identity on a target that is already canonical (the
 * vectors' and the Windows client's).
 */
export const canonicalPathAndQuery = (pathAndQuery: string): string =>
  (pathAndQuery.indexOf('?') === pathAndQuery.length - 1 ? pathAndQuery.slice(0, -1) : pathAndQuery).replace(
    KEPT_OR_ESCAPE,
    (match: string, hex: string | undefined) => {
      if (hex === undefined) return escapeUtf8(match);
      const decoded = String.fromCharCode(parseInt(hex, 16));
      return UNRESERVED.test(decoded) ? decoded : `%${hex.toUpperCase()}`;
    },
  );

/**
 * The canonical string of a request: these lines joined by `\n`, no trailing newline, signed as UTF-8.
 *
 *     EntraDevice-v1
 *     <METHOD>
 *     <path and query as sent, in canonical form (canonicalPathAndQuery)>
 *     <ts>
 *     <nonce>
 *     <hex SHA-256 of the body>
 */
export function canonicalString(request: SignedRequest): string {
  return [
    PROOF_VERSION,
    request.method.toUpperCase(),
    canonicalPathAndQuery(request.pathAndQuery),
    request.ts,
    request.nonce,
    bodyHash(request.body),
  ].join('\n');
}
