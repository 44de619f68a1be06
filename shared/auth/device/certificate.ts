import { createHash, X509Certificate, type KeyObject } from 'node:crypto';
import { DeviceProofError } from './proofError';
import { isGuid } from '../../text/normalizeGuid';

/** What the proof needs of a device certificate. */
export interface DeviceCertificate {
  /** The subject CN: the Entra ID deviceId, lower-cased. */
  deviceId: string;
  /** SHA-1 over the DER, 40 upper-case hex digits (Windows' thumbprint). */
  thumbprint: string;
  /** Base64 of SHA-256 over the PKCS#1 RSAPublicKey DER (what .NET's X509Certificate2.GetPublicKey() returns). */
  publicKeyHash: string;
  publicKey: KeyObject;
}

const refuse = (message: string): DeviceProofError => new DeviceProofError('certificate', message);

/** Base64 of SHA-256 over the key's PKCS#1 RSAPublicKey DER. */
export function publicKeyHashOf(publicKey: KeyObject): string {
  return createHash('sha256')
    .update(publicKey.export({ type: 'pkcs1', format: 'der' }))
    .digest('base64');
}

export const thumbprintOf = (der: Uint8Array): string => createHash('sha1').update(der).digest('hex').toUpperCase();

const RSA_EXPONENT = 65537n;
const MIN_RSA_BITS = 2048;
const MAX_RSA_BITS = 4096;

/**
 * Reads a device certificate from its DER. Throws DeviceProofError('certificate') when it is not an
 * X.509 certificate, its key is not RSA of 2048 to 4096 bits with exponent 65537, or its subject has not
 * exactly one CN that is a GUID.
 * Validity dates are not checked: the proof trusts the certificate only as far as the device's
 * directory record lists it (Entra ID device certificates live ten years and are replaced by re-join).
 */
export function readDeviceCertificate(der: Buffer): DeviceCertificate {
  let certificate: X509Certificate;
  try {
    certificate = new X509Certificate(der);
  } catch {
    throw refuse('cert is not an X.509 certificate.');
  }
  if (certificate.publicKey.asymmetricKeyType !== 'rsa') throw refuse('The certificate key must be RSA.');
  // Before any signature check: a stranger's certificate may carry a key built to make verifying slow
  // (a huge public exponent cost 37 ms a verify, 40 times a normal one). Entra ID issues device keys of
  // 2048 bits with exponent 65537; anything outside what it could have issued is refused unverified.
  const { modulusLength, publicExponent } = certificate.publicKey.asymmetricKeyDetails ?? {};
  if (publicExponent !== RSA_EXPONENT || modulusLength === undefined || modulusLength < MIN_RSA_BITS || modulusLength > MAX_RSA_BITS) {
    throw refuse(`The certificate key must be RSA of ${MIN_RSA_BITS} to ${MAX_RSA_BITS} bits with exponent 65537.`);
  }
  const commonNames = certificate.subject.split('\n').filter((line) => line.startsWith('CN='));
  const deviceId = commonNames.length === 1 ? commonNames[0].slice(3) : '';
  if (!isGuid(deviceId)) throw refuse('The certificate subject must be CN=<deviceId> with a GUID.');
  return {
    deviceId: deviceId.toLowerCase(),
    thumbprint: thumbprintOf(der),
    publicKeyHash: publicKeyHashOf(certificate.publicKey),
    publicKey: certificate.publicKey,
  };
}
