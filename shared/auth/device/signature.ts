import { constants, sign, verify, type KeyObject } from 'node:crypto';

/** RSASSA-PKCS1-v1_5 with SHA-256 over the UTF-8 bytes of `text`, base64 (any RSA key size). */
export function signCanonical(privateKey: KeyObject, text: string): string {
  return sign('sha256', Buffer.from(text, 'utf8'), { key: privateKey, padding: constants.RSA_PKCS1_PADDING }).toString('base64');
}

/** True when `signature` (base64) is RSASSA-PKCS1-v1_5 SHA-256 by `publicKey` over the UTF-8 bytes of `text`. */
export function verifyCanonical(publicKey: KeyObject, text: string, signature: string): boolean {
  try {
    return verify(
      'sha256',
      Buffer.from(text, 'utf8'),
      { key: publicKey, padding: constants.RSA_PKCS1_PADDING },
      Buffer.from(signature, 'base64'),
    );
  } catch {
    return false;
  }
}
