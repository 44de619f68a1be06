import { createPrivateKey, generateKeyPairSync, randomUUID } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { alternativeSecurityIdKey, CERTIFICATE_SECURITY_ID_TYPE } from '../../../shared/auth/device/alternativeSecurityId';
import { readDeviceCertificate } from '../../../shared/auth/device/certificate';
import { registerLocalDevice } from '../../../shared/auth/device/localDirectory';
import type { DeviceCredentials } from '../../../shared/auth/device/signer';
import { selfSignedCertificate } from './selfSignedCertificate';

// The local test device of `npm run device`: its certificate and private key in
// <LOCAL_STATE_DIR>/device.json (git-ignored, owner-only), and its record in the local device
// directory that DEVICE_AUTH=local reads instead of Microsoft Graph.

interface IdentityFile {
  deviceId: string;
  certificateDerBase64: string;
  privateKeyPem: string;
}

export interface LocalDevice extends DeviceCredentials {
  deviceId: string;
  thumbprint: string;
}

const identityPath = (stateDir: string): string => join(stateDir, 'device.json');

/** Creates a device (random deviceId, RSA 2048, self-signed CN=<deviceId>), saves it and records it in the local directory, enabled. */
export async function registerDevice(stateDir: string): Promise<LocalDevice> {
  const deviceId = randomUUID();
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const certificate = selfSignedCertificate(privateKey, deviceId);
  const read = readDeviceCertificate(certificate);
  await mkdir(stateDir, { recursive: true });
  const file: IdentityFile = {
    deviceId,
    certificateDerBase64: certificate.toString('base64'),
    privateKeyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
  };
  await writeFile(identityPath(stateDir), JSON.stringify(file, null, 2), { mode: 0o600 });
  await registerLocalDevice(stateDir, {
    deviceId,
    accountEnabled: true,
    alternativeSecurityIds: [{ type: CERTIFICATE_SECURITY_ID_TYPE, identityProvider: null, key: alternativeSecurityIdKey(read) }],
  });
  return { deviceId, certificate, privateKey, thumbprint: read.thumbprint };
}

/** The device `registerDevice` saved under `stateDir`; an error that says to register first if there is none. */
export async function loadDevice(stateDir: string): Promise<LocalDevice> {
  let file: IdentityFile;
  try {
    file = JSON.parse(await readFile(identityPath(stateDir), 'utf8')) as IdentityFile;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT')
      throw new Error('No local device yet: run `npm run device -- register` first.', { cause: error });
    throw error;
  }
  const certificate = Buffer.from(file.certificateDerBase64, 'base64');
  return {
    deviceId: file.deviceId,
    certificate,
    privateKey: createPrivateKey(file.privateKeyPem),
    thumbprint: readDeviceCertificate(certificate).thumbprint,
  };
}
