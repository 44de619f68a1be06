import { createHash } from 'node:crypto';

/** The first line of every canonical string: the protocol's version. */
export const PROOF_VERSION = 'EntraDevice-v1';

/** What a device signs, apart from its certificate. */
export interface SignedRequest {
  /** HTTP method; upper-cased here. */
  method: string;
  /** Path and query exactly as sent on the request line (e.g. `/v1.0/bitlocker/recoveryKeys?%24filter=...`). */
  pathAndQuery: string;
  ts: string;
  nonce: string;
  /** The body bytes as sent (empty when there is none). */
  body: Uint8Array;
}

/** Lower-case hex SHA-256 of the body (of the empty string when there is no body). */
export const bodyHash = (body: Uint8Array): string => createHash('sha256').update(body).digest('hex');

/**
 * The canonical string of a request: these lines joined by `\n`, no trailing newline, signed as UTF-8.
 *
 *     EntraDevice-v1
 *     <METHOD>
 *     <path and query as sent>
 *     <ts>
 *     <nonce>
 *     <hex SHA-256 of the body>
 */
export function canonicalString(request: SignedRequest): string {
  return [PROOF_VERSION, request.method.toUpperCase(), request.pathAndQuery, request.ts, request.nonce, bodyHash(request.body)].join('\n');
}
