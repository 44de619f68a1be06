import { createHash } from 'node:crypto';
import { badRequest, type GraphError } from '../errors/graphError';

// The $skiptoken inside @odata.nextLink: base64url of
//
//   version (1 byte) | the storage continuation (ASCII) | check (first 16 bytes of SHA-256)
//
// The check covers version, query fingerprint and continuation. The fingerprint itself is not carried:
// the caller rebuilds it from the request, so a token used with another filter fails the same check as
// a tampered one, and the token stays short whatever the fingerprint's length.
//
// The check is deliberately not keyed with a secret. It catches truncation, corruption and tokens from
// another query, not forgery: anyone can compute it. That is enough because a token grants nothing: every
// page re-applies the caller's permissions and the filter from the request, so a forged continuation can
// only move the caller to another place in a result set they may read in full anyway. What a forger
// could still do is hand storage a strange continuation, so the continuation is validated strictly on
// every decode, whatever the check says.

export interface SkipTokenState {
  /** A canonical fingerprint of the filter the page belongs to, built by the caller. */
  query: string;
  /** The storage SDK's opaque continuation token: base64 of JSON {nextPartitionKey, nextRowKey}. */
  continuation: string;
}

export const INVALID_SKIP_TOKEN_MESSAGE = 'The $skiptoken is invalid or was altered; start again from the first page.';

const VERSION = 1;
const CHECK_BYTES = 16;

/** The decoded continuation's JSON: the two keys and their quoting, far above Table Storage's real tokens. */
const MAX_CONTINUATION_JSON_BYTES = 1024;
const MAX_CONTINUATION_LENGTH = 4 * Math.ceil(MAX_CONTINUATION_JSON_BYTES / 3);

/** Holds the largest valid token (about 1850 characters) and refuses anything larger before decoding it. */
export const MAX_SKIP_TOKEN_LENGTH = 2048;

const BASE64URL = /^[A-Za-z0-9_-]+$/;
const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;
const PRINTABLE_ASCII = /^[\x20-\x7e]+$/;
const CONTINUATION_KEYS = ['nextPartitionKey', 'nextRowKey'];

const invalid = (): GraphError => badRequest(INVALID_SKIP_TOKEN_MESSAGE);

/** The token's check: the first CHECK_BYTES bytes of SHA-256 over version, query fingerprint and continuation. */
function checksum(version: number, query: string, continuation: string): Buffer {
  // JSON of an array keeps the fields apart: no two different triples hash the same text.
  const digest = createHash('sha256')
    .update(JSON.stringify([version, query, continuation]))
    .digest();
  return digest.subarray(0, CHECK_BYTES);
}

/** Base64 decoding that refuses what Buffer would silently skip or repair: stray characters, bad padding, spare bits. */
function strictBase64(text: string, pattern: RegExp, encoding: 'base64' | 'base64url'): Buffer | undefined {
  if (!pattern.test(text)) return undefined;
  const bytes = Buffer.from(text, encoding);
  return bytes.toString(encoding) === text ? bytes : undefined;
}

function isPrintableString(value: unknown): value is string {
  return typeof value === 'string' && PRINTABLE_ASCII.test(value);
}

function isContinuationObject(value: unknown): boolean {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const fields = value as Record<string, unknown>;
  if (!Object.keys(fields).every((key) => CONTINUATION_KEYS.includes(key))) return false;
  // The SDK leaves nextRowKey out when storage sends none; nextPartitionKey is always there.
  return isPrintableString(fields.nextPartitionKey) && (fields.nextRowKey === undefined || isPrintableString(fields.nextRowKey));
}

/**
 * Whether `continuation` has exactly the shape the storage SDK produces: canonical base64 of at most
 * 1 KiB of printable-ASCII JSON holding nextPartitionKey and, optionally, nextRowKey, both printable
 * strings. Printable ASCII only, because the SDK decodes the bytes as Latin-1 and Table keys refuse
 * control characters anyway.
 */
function isValidContinuation(continuation: string): boolean {
  if (continuation.length > MAX_CONTINUATION_LENGTH || continuation.length % 4 !== 0) return false;
  const bytes = strictBase64(continuation, BASE64, 'base64');
  if (bytes === undefined || bytes.length > MAX_CONTINUATION_JSON_BYTES) return false;
  const json = bytes.toString('latin1');
  if (!PRINTABLE_ASCII.test(json)) return false;
  try {
    return isContinuationObject(JSON.parse(json));
  } catch {
    return false;
  }
}

/** The $skiptoken for the page after this one. */
export function encodeSkipToken(state: SkipTokenState): string {
  if (!isValidContinuation(state.continuation)) {
    // Storage handed back something we would refuse on the next request: a defect, not the client's fault.
    throw new Error('The storage continuation token does not have the expected shape.');
  }
  const continuation = Buffer.from(state.continuation, 'latin1');
  return Buffer.concat([Buffer.from([VERSION]), continuation, checksum(VERSION, state.query, state.continuation)]).toString('base64url');
}

/**
 * The state inside a client's $skiptoken, if it is intact, was issued by us for `expectedQuery`, and holds
 * a continuation of the storage SDK's shape; otherwise a 400 that tells the client to start over.
 */
/**
 * The storage continuation a request's `$skiptoken` carries, checked against the query it was issued
 * for (`fingerprint`); undefined when the request has none (the first page). 400 as decodeSkipToken.
 */
export const continuationOf = (skipToken: string | undefined, fingerprint: string): string | undefined =>
  skipToken ? decodeSkipToken(skipToken, fingerprint).continuation : undefined;

export function decodeSkipToken(token: string, expectedQuery: string): SkipTokenState {
  if (token.length > MAX_SKIP_TOKEN_LENGTH) throw invalid();
  const bytes = strictBase64(token, BASE64URL, 'base64url');
  if (bytes === undefined || bytes.length <= 1 + CHECK_BYTES || bytes[0] !== VERSION) throw invalid();
  const continuation = bytes.subarray(1, bytes.length - CHECK_BYTES).toString('latin1');
  const expected = checksum(VERSION, expectedQuery, continuation);
  // A plain comparison: the check is no secret, so there is no timing to protect.
  if (!bytes.subarray(bytes.length - CHECK_BYTES).equals(expected)) throw invalid();
  if (!isValidContinuation(continuation)) throw invalid();
  return { query: expectedQuery, continuation };
}
