import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';
import type { EncryptionKeyring } from '../crypto/envelope';
import { keyring } from '../crypto/keyring';
import { badRequest, type GraphError } from '../errors/graphError';

// The $skiptoken inside @odata.nextLink: base64url of
//
//   version (1 byte) | key version's length (1 byte) | key version (ASCII) | IV (12) | sealed continuation | tag (16)
//
// The storage continuation is sealed with AES-256-GCM under a key derived (HKDF) from the keyring's
// active key, with the version and the query fingerprint as associated data. The fingerprint itself is
// not carried: the caller rebuilds it from the request, so a token used with another filter fails the
// same tag check as a tampered one, and the token stays short whatever the fingerprint's length.
//
// Sealed, not only checked: a continuation names the next row storage would read, which for a caller
// who sees only part of a list (a scope, a device's claim) may be a key or a device hidden from them.
// A readable token would tell them of it; a forgeable one would let them walk to any place they
// choose. Only the service can make a token, and only the service can read one. Tokens sealed under
// a key version still in ENCRYPTION_KEYS keep working after a rotation; others are the 400 of a bad
// token (start again). The continuation is still validated strictly on every decode.

export interface SkipTokenState {
  /** A canonical fingerprint of the filter the page belongs to, built by the caller. */
  query: string;
  /** The storage SDK's opaque continuation token: base64 of JSON {nextPartitionKey, nextRowKey}. */
  continuation: string;
}

export const INVALID_SKIP_TOKEN_MESSAGE = 'The $skiptoken is invalid or was altered; start again from the first page.';

const VERSION = 2;
const IV_BYTES = 12;
const TAG_BYTES = 16;
const HKDF_INFO = 'bitlocker-key-escrow $skiptoken';

/** The decoded continuation's JSON: the two keys and their quoting, far above Table Storage's real tokens. */
const MAX_CONTINUATION_JSON_BYTES = 1024;
const MAX_CONTINUATION_LENGTH = 4 * Math.ceil(MAX_CONTINUATION_JSON_BYTES / 3);

/** Holds the largest valid token (about 1950 characters, with a 64-character key version) and refuses anything larger before decoding it. */
export const MAX_SKIP_TOKEN_LENGTH = 2048;

const BASE64URL = /^[A-Za-z0-9_-]+$/;
const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;
const PRINTABLE_ASCII = /^[\x20-\x7e]+$/;
const CONTINUATION_KEYS = ['nextPartitionKey', 'nextRowKey'];

const invalid = (): GraphError => badRequest(INVALID_SKIP_TOKEN_MESSAGE);

const tokenKeys = new WeakMap<Buffer, Buffer>();

/** The token key of one keyring key: derived, so that a token never exposes (or is made with) the key that seals passwords. */
function tokenKey(key: Buffer): Buffer {
  let derived = tokenKeys.get(key);
  if (!derived) {
    derived = Buffer.from(hkdfSync('sha256', key, Buffer.alloc(0), HKDF_INFO, 32));
    tokenKeys.set(key, derived);
  }
  return derived;
}

/** What the tag binds besides the continuation: the token's version and the query it belongs to. */
const associatedData = (query: string): Buffer => Buffer.from(JSON.stringify([VERSION, query]), 'utf8');

/**
 * Seals `continuation` for `query` under the ring's active key, whatever its shape: encodeSkipToken
 * checks the shape first; tests use this to make tokens the service would never issue.
 */
export function sealSkipToken(query: string, continuation: string, ring: EncryptionKeyring = keyring()): string {
  const version = Buffer.from(ring.active, 'latin1');
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv('aes-256-gcm', tokenKey(ring.keys.get(ring.active)!), iv, { authTagLength: TAG_BYTES });
  cipher.setAAD(associatedData(query));
  const sealed = Buffer.concat([cipher.update(continuation, 'latin1'), cipher.final()]);
  return Buffer.concat([Buffer.from([VERSION, version.length]), version, iv, sealed, cipher.getAuthTag()]).toString('base64url');
}

/** The continuation inside a token made by sealSkipToken for `query`, or undefined for anything else. */
function openSkipToken(bytes: Buffer, query: string, ring: EncryptionKeyring): string | undefined {
  if (bytes.length < 2 || bytes[0] !== VERSION) return undefined;
  const versionEnd = 2 + bytes[1];
  if (bytes.length < versionEnd + IV_BYTES + TAG_BYTES + 1) return undefined;
  const key = ring.keys.get(bytes.subarray(2, versionEnd).toString('latin1'));
  if (!key) return undefined;
  const decipher = createDecipheriv('aes-256-gcm', tokenKey(key), bytes.subarray(versionEnd, versionEnd + IV_BYTES), {
    authTagLength: TAG_BYTES,
  });
  decipher.setAAD(associatedData(query));
  decipher.setAuthTag(bytes.subarray(bytes.length - TAG_BYTES));
  try {
    return Buffer.concat([decipher.update(bytes.subarray(versionEnd + IV_BYTES, bytes.length - TAG_BYTES)), decipher.final()]).toString(
      'latin1',
    );
  } catch {
    return undefined;
  }
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
export function encodeSkipToken(state: SkipTokenState, ring: EncryptionKeyring = keyring()): string {
  if (!isValidContinuation(state.continuation)) {
    // Storage handed back something we would refuse on the next request: a defect, not the client's fault.
    throw new Error('The storage continuation token does not have the expected shape.');
  }
  return sealSkipToken(state.query, state.continuation, ring);
}

/**
 * The storage continuation a request's `$skiptoken` carries, checked against the query it was issued
 * for (`fingerprint`); undefined when the request has none (the first page). 400 as decodeSkipToken.
 */
export const continuationOf = (skipToken: string | undefined, fingerprint: string): string | undefined =>
  skipToken ? decodeSkipToken(skipToken, fingerprint).continuation : undefined;

/**
 * The state inside a client's $skiptoken, if it was sealed by us for `expectedQuery` and holds a
 * continuation of the storage SDK's shape; otherwise a 400 that tells the client to start over.
 */
export function decodeSkipToken(token: string, expectedQuery: string, ring: EncryptionKeyring = keyring()): SkipTokenState {
  if (token.length > MAX_SKIP_TOKEN_LENGTH) throw invalid();
  const bytes = strictBase64(token, BASE64URL, 'base64url');
  const continuation = bytes && openSkipToken(bytes, expectedQuery, ring);
  if (continuation === undefined || !isValidContinuation(continuation)) throw invalid();
  return { query: expectedQuery, continuation };
}
