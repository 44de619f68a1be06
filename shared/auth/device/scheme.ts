import { DeviceProofError } from './proofError';

/** The parameters of an `Authorization: EntraDevice ...` header, as sent (nothing decoded yet). */
export interface DeviceProofParameters {
  /** Base64 of the device certificate's DER. */
  cert: string;
  /** UTC time of signing, RFC 3339 with `Z` (e.g. 2026-11-29T10:00:00Z). */
  ts: string;
  /** 16 to 64 characters of base64url, unique per request of a device. */
  nonce: string;
  /** Base64 of the RSASSA-PKCS1-v1_5 SHA-256 signature over the canonical string. */
  sig: string;
}

export const DEVICE_SCHEME = 'EntraDevice';

/** Longer than any header a device sends (a 4096-bit certificate is under 2 KiB of DER); refused before parsing. */
const MAX_HEADER_LENGTH = 16 * 1024;

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
const NONCE = /^[A-Za-z0-9_-]{16,64}$/;
const RFC3339_UTC = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?Z$/;
const PARAMETER = /^\s*([A-Za-z]+)="([^"\\]*)"\s*$/;
const NAMES = ['cert', 'ts', 'nonce', 'sig'] as const;

const refuse = (message: string): DeviceProofError => new DeviceProofError('scheme', message);

/** True when an Authorization header uses the EntraDevice scheme (scheme names are case-insensitive, RFC 9110 §11.1). */
export function isDeviceScheme(authorization: string | null): boolean {
  return authorization !== null && /^entradevice(?:\s|$)/i.test(authorization.trimStart());
}

/**
 * Parses `EntraDevice cert="…", ts="…", nonce="…", sig="…"`: each parameter exactly once, in any
 * order, quoted, nothing else. Throws DeviceProofError('scheme') naming what is wrong.
 */
export function parseDeviceAuthorization(authorization: string): DeviceProofParameters {
  if (authorization.length > MAX_HEADER_LENGTH) throw refuse('The EntraDevice authorization is too long.');
  const match = /^\s*EntraDevice\s+(.*)$/is.exec(authorization);
  if (!match) throw refuse('The authorization scheme is not EntraDevice.');
  const found = new Map<string, string>();
  for (const part of match[1].split(',')) {
    const parameter = PARAMETER.exec(part);
    if (!parameter) throw refuse('The EntraDevice parameters must be name="value" pairs separated by commas.');
    const name = parameter[1];
    if (!(NAMES as readonly string[]).includes(name)) throw refuse(`Unknown EntraDevice parameter ${name.slice(0, 20)}.`);
    if (found.has(name)) throw refuse(`The EntraDevice parameter ${name} is given more than once.`);
    found.set(name, parameter[2]);
  }
  const missing = NAMES.filter((name) => !found.has(name));
  if (missing.length) throw refuse(`The EntraDevice authorization lacks ${missing.join(', ')}.`);
  const parameters = Object.fromEntries(found) as unknown as DeviceProofParameters;
  if (!parameters.cert || !BASE64.test(parameters.cert)) throw refuse('cert must be the base64 of the certificate DER.');
  if (!RFC3339_UTC.test(parameters.ts) || Number.isNaN(Date.parse(parameters.ts))) {
    throw refuse('ts must be a UTC time in RFC 3339 form, e.g. 2026-11-29T10:00:00Z.');
  }
  if (!NONCE.test(parameters.nonce)) throw refuse('nonce must be 16 to 64 characters of base64url.');
  if (!parameters.sig || !BASE64.test(parameters.sig)) throw refuse('sig must be base64.');
  return parameters;
}

/** The header value a client sends. */
export function formatDeviceAuthorization(parameters: DeviceProofParameters): string {
  return `${DEVICE_SCHEME} cert="${parameters.cert}", ts="${parameters.ts}", nonce="${parameters.nonce}", sig="${parameters.sig}"`;
}
