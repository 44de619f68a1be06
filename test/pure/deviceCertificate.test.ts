import { generateKeyPairSync, randomUUID } from 'node:crypto';
import { readDeviceCertificate } from '../../shared/auth/device/certificate';
import { DeviceProofError } from '../../shared/auth/device/proofError';
import { selfSignedCertificate } from '../../scripts/cli/device/selfSignedCertificate';

// A certificate is read before its signature is checked, and anyone can send one: a key that no Entra ID
// device could have (an odd exponent that makes verifying slow, a weak or a huge modulus) is refused
// before any RSA work or directory lookup.

const certificateWith = (modulusLength: number, publicExponent?: number): Buffer => {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength, ...(publicExponent !== undefined && { publicExponent }) });
  return selfSignedCertificate(privateKey, randomUUID());
};

it('reads an Entra-shaped key: 2048 bits, exponent 65537', () => {
  const certificate = readDeviceCertificate(certificateWith(2048));
  expect(certificate.publicKey.asymmetricKeyDetails).toMatchObject({ modulusLength: 2048, publicExponent: 65537n });
});

it.each([
  ['a small exponent', 2048, 3],
  ['a large exponent', 2048, 2_147_483_647],
  ['a 1024-bit modulus', 1024, undefined],
  ['a 4160-bit modulus', 4160, undefined],
])('refuses %s before any signature check', (_what, modulusLength, publicExponent) => {
  const der = certificateWith(modulusLength, publicExponent);
  expect(() => readDeviceCertificate(der)).toThrow(DeviceProofError);
  expect(() => readDeviceCertificate(der)).toThrow('The certificate key must be RSA of 2048 to 4096 bits with exponent 65537.');
});
