import { randomBytes, type KeyObject } from 'node:crypto';
import { canonicalString } from './canonical';
import { formatDeviceAuthorization } from './scheme';
import { signCanonical } from './signature';

// The client side of the proof, for the reference client (scripts/cli/device-client.ts) and the tests.
// clients/windows/*.ps1 do the same steps in the same order.

export interface DeviceCredentials {
  /** The device certificate's DER. */
  certificate: Buffer;
  privateKey: KeyObject;
}

export interface RequestToSign {
  method: string;
  pathAndQuery: string;
  body?: Uint8Array;
  /** Defaults to now, to the second. */
  ts?: string;
  /** Defaults to 32 random bytes' worth of base64url (43 characters). */
  nonce?: string;
}

/** A new nonce: 32 random bytes as base64url without padding. */
export const newNonce = (): string => randomBytes(32).toString('base64url');

/** Now as RFC 3339 UTC to the second (the form PowerShell's ToString('yyyy-MM-ddTHH:mm:ssZ') gives). */
export const proofTimestamp = (at: Date = new Date()): string => `${at.toISOString().slice(0, 19)}Z`;

/** The Authorization header value for a request. */
export function deviceAuthorization(credentials: DeviceCredentials, request: RequestToSign): string {
  const ts = request.ts ?? proofTimestamp();
  const nonce = request.nonce ?? newNonce();
  const text = canonicalString({
    method: request.method,
    pathAndQuery: request.pathAndQuery,
    ts,
    nonce,
    body: request.body ?? new Uint8Array(),
  });
  return formatDeviceAuthorization({
    cert: credentials.certificate.toString('base64'),
    ts,
    nonce,
    sig: signCanonical(credentials.privateKey, text),
  });
}
