import type { DeviceCertificate } from './certificate';

/** Graph's alternativeSecurityId (https://learn.microsoft.com/graph/api/resources/alternativesecurityid): `key` is Edm.Binary, base64 in JSON. */
export interface AlternativeSecurityId {
  type: number;
  identityProvider?: string | null;
  key: string;
}

/** The type Entra ID gives a device's certificate entry. */
export const CERTIFICATE_SECURITY_ID_TYPE = 2;

const PREFIX = 'X509:<SHA1-TP-PUBKEY>';

/** The text an entry's key holds: `X509:<SHA1-TP-PUBKEY>` + thumbprint + base64 public-key hash. */
const securityIdText = (certificate: Pick<DeviceCertificate, 'thumbprint' | 'publicKeyHash'>): string =>
  `${PREFIX}${certificate.thumbprint}${certificate.publicKeyHash}`;

/** The `key` of the certificate's entry: base64 of the UTF-16LE text. */
export function alternativeSecurityIdKey(certificate: Pick<DeviceCertificate, 'thumbprint' | 'publicKeyHash'>): string {
  return Buffer.from(securityIdText(certificate), 'utf16le').toString('base64');
}

/**
 * True when any type-2 entry names both the certificate's thumbprint and its public-key hash. Every
 * entry is looked at (a device re-joined or with a renewed certificate lists several); keys are
 * compared as decoded text, so that base64 spelled differently still matches.
 */
export function listsCertificate(entries: readonly AlternativeSecurityId[], certificate: DeviceCertificate): boolean {
  const expected = securityIdText(certificate);
  return entries.some(
    (entry) =>
      entry.type === CERTIFICATE_SECURITY_ID_TYPE &&
      typeof entry.key === 'string' &&
      Buffer.from(entry.key, 'base64').toString('utf16le') === expected,
  );
}
