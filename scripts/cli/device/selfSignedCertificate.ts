import { createPublicKey, randomBytes, sign, type KeyObject } from 'node:crypto';

// A minimal X.509 v3 self-signed certificate (RFC 5280 §4.1) for the local test device: node:crypto
// reads certificates but cannot make them, and the device needs only a subject CN and an RSA key,
// so a few lines of DER replace a certificate library. Never used by the service.

const OID_SHA256_WITH_RSA = '1.2.840.113549.1.1.11';
const OID_COMMON_NAME = '2.5.4.3';

function length(n: number): Buffer {
  if (n < 0x80) return Buffer.from([n]);
  const bytes: number[] = [];
  for (let rest = n; rest > 0; rest >>= 8) bytes.unshift(rest & 0xff);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

const tlv = (tag: number, content: Buffer): Buffer => Buffer.concat([Buffer.from([tag]), length(content.length), content]);
const sequence = (...items: Buffer[]): Buffer => tlv(0x30, Buffer.concat(items));

function oid(dotted: string): Buffer {
  const [a, b, ...rest] = dotted.split('.').map(Number);
  const bytes = [a * 40 + b];
  for (const arc of rest) {
    const base128 = [arc & 0x7f];
    for (let v = arc >> 7; v > 0; v >>= 7) base128.unshift(0x80 | (v & 0x7f));
    bytes.push(...base128);
  }
  return tlv(0x06, Buffer.from(bytes));
}

/** GeneralizedTime, valid for any year (UTCTime stops at 2049). */
const time = (at: Date): Buffer => tlv(0x18, Buffer.from(`${at.toISOString().replace(/[-:T]/g, '').slice(0, 14)}Z`, 'ascii'));

const name = (commonName: string): Buffer =>
  sequence(tlv(0x31, sequence(oid(OID_COMMON_NAME), tlv(0x0c, Buffer.from(commonName, 'utf8')))));

/** The DER of a self-signed certificate with subject and issuer `CN=<commonName>`, valid from an hour ago for `days`. */
export function selfSignedCertificate(privateKey: KeyObject, commonName: string, days = 3650): Buffer {
  const algorithm = sequence(oid(OID_SHA256_WITH_RSA), Buffer.from([0x05, 0x00]));
  const serial = randomBytes(16);
  // A positive DER INTEGER in minimal form (X.690 8.3.2): the first byte neither has its top bit set (negative)
  // nor is 0x00 (which, before a byte below 0x80, is a non-minimal encoding Node refuses: 1 registration in 256).
  serial[0] = (serial[0] & 0x7f) | 0x40;
  const now = Date.now();
  const tbs = sequence(
    tlv(0xa0, tlv(0x02, Buffer.from([2]))), // version v3
    tlv(0x02, serial),
    algorithm,
    name(commonName),
    sequence(time(new Date(now - 3_600_000)), time(new Date(now + days * 86_400_000))),
    name(commonName),
    createPublicKey(privateKey).export({ type: 'spki', format: 'der' }),
  );
  const signature = sign('sha256', tbs, privateKey);
  return sequence(tbs, algorithm, tlv(0x03, Buffer.concat([Buffer.from([0]), signature])));
}
