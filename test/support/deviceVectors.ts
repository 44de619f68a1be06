import { createPrivateKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { DirectoryDevice } from '../../shared/auth/device/directory';
import type { DeviceCredentials } from '../../shared/auth/device/signer';

// test/vectors/device-proof.json: the pinned EntraDevice-v1 vectors (TEST-ONLY keys), typed.

export interface VectorDevice {
  deviceId: string;
  modulusBits: number;
  certificateDerBase64: string;
  privateKeyPemTestOnly: string;
  thumbprint: string;
  publicKeyHash: string;
  alternativeSecurityIdText: string;
  alternativeSecurityIdKey: string;
}

export interface VectorRequest {
  name: string;
  device: 'primary' | 'rsa3072';
  method: string;
  pathAndQuery: string;
  body: string;
  ts: string;
  nonce: string;
  bodySha256: string;
  canonical: string;
  signature: string;
  authorization: string;
  failedCheck?: string;
}

export interface DeviceVectors {
  clock: string;
  devices: Record<'primary' | 'rsa3072', VectorDevice>;
  otherPrivateKeyPemTestOnly: string;
  accepted: VectorRequest[];
  refused: VectorRequest[];
}

export const vectors = JSON.parse(readFileSync(join(__dirname, '../vectors/device-proof.json'), 'utf8')) as DeviceVectors;

/** The device as Graph would list it: enabled, its certificate in alternativeSecurityIds. */
export const directoryEntryOf = (device: VectorDevice, overrides: Partial<DirectoryDevice> = {}): DirectoryDevice => ({
  id: device.deviceId.split('').reverse().join(''),
  deviceId: device.deviceId,
  accountEnabled: true,
  alternativeSecurityIds: [{ type: 2, identityProvider: null, key: device.alternativeSecurityIdKey }],
  ...overrides,
});

export const credentialsOf = (device: VectorDevice): DeviceCredentials => ({
  certificate: Buffer.from(device.certificateDerBase64, 'base64'),
  privateKey: createPrivateKey(device.privateKeyPemTestOnly),
});
