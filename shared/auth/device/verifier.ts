import { listsCertificate } from './alternativeSecurityId';
import { canonicalString } from './canonical';
import { readDeviceCertificate } from './certificate';
import type { DeviceDirectory } from './directory';
import type { NonceStore } from './nonceStore';
import { DeviceProofError } from './proofError';
import { parseDeviceAuthorization } from './scheme';
import { verifyCanonical } from './signature';

/** A device's timestamp may be this far from our clock either way (the 5 minutes). */
export const TIMESTAMP_TOLERANCE_MS = 5 * 60_000;

/** A request as the proof sees it. */
export interface DeviceProofRequest {
  authorization: string;
  method: string;
  /** Path and query exactly as on the request line. */
  pathAndQuery: string;
  body: Uint8Array;
}

/** Who a verified device is. */
export interface DeviceIdentity {
  /** Entra ID deviceId, lower-case. */
  deviceId: string;
  /** SHA-1 thumbprint of the certificate it proved with, upper-case hex. */
  thumbprint: string;
}

export interface DeviceProofDependencies {
  directory: DeviceDirectory;
  nonces: NonceStore;
  now?: () => number;
}

/**
 * Verifies an EntraDevice proof; the protocol is pinned in README "Escrow from devices" and
 * test/vectors/device-proof.json. Checks, in this order (cheapest and needing no I/O first; the nonce
 * last, so that only a proven device can write a nonce row): scheme, timestamp, certificate subject,
 * signature, directory (exists, enabled, lists this certificate), nonce.
 * Throws DeviceProofError naming the failed check; DirectoryUnavailable or a 503 GraphError when the
 * directory or storage cannot answer.
 */
export async function verifyDeviceProof(request: DeviceProofRequest, deps: DeviceProofDependencies): Promise<DeviceIdentity> {
  const now = (deps.now ?? Date.now)();
  const proof = parseDeviceAuthorization(request.authorization);
  const skew = Date.parse(proof.ts) - now;
  if (Math.abs(skew) > TIMESTAMP_TOLERANCE_MS) {
    throw new DeviceProofError('timestamp', `ts is ${skew < 0 ? 'older' : 'later'} than the 5 minutes allowed; check the device clock.`);
  }
  const certificate = readDeviceCertificate(Buffer.from(proof.cert, 'base64'));
  const signed = canonicalString({
    method: request.method,
    pathAndQuery: request.pathAndQuery,
    ts: proof.ts,
    nonce: proof.nonce,
    body: request.body,
  });
  if (!verifyCanonical(certificate.publicKey, signed, proof.sig)) {
    throw new DeviceProofError(
      'signature',
      'The signature does not verify with the certificate over this method, path, ts, nonce and body.',
    );
  }
  const device = await deps.directory.findDevice(certificate.deviceId);
  if (!device) throw new DeviceProofError('unknownDevice', `No device ${certificate.deviceId} is registered in the directory.`);
  if (device.accountEnabled !== true) throw new DeviceProofError('disabledDevice', `Device ${certificate.deviceId} is disabled.`);
  if (!listsCertificate(device.alternativeSecurityIds ?? [], certificate)) {
    throw new DeviceProofError(
      'certificateNotOnDevice',
      `The certificate is not one that device ${certificate.deviceId} is registered with.`,
    );
  }
  if (!(await deps.nonces.claim(certificate.deviceId, proof.nonce, new Date(now)))) {
    throw new DeviceProofError('nonce', 'This nonce was already used by the device in the last 11 minutes: a replay.');
  }
  return { deviceId: certificate.deviceId, thumbprint: certificate.thumbprint };
}
