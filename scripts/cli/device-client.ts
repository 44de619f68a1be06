import { randomUUID } from 'node:crypto';
import { parseArgs } from 'node:util';
import { settings } from '../../shared/config';
import { recoveryPassword } from '../bench/fixtures';
import { DeviceClient } from './device/client';
import { loadDevice, registerDevice } from './device/identity';

// `npm run device -- register`: creates the local test device (DEVICE_AUTH=local).
// `npm run device -- escrow [--url URL]`: escrows a random valid recovery key for it, as the Windows
// client does: list the device's keys, escrow what is missing, then report the device's status (its
// volume and the protector now on it). Prints one line; never a password.

const usage = 'usage: npm run device -- register | escrow [--url http://127.0.0.1:7071]';

async function escrow(url: string): Promise<string> {
  const device = await loadDevice(settings().localStateDir);
  const client = new DeviceClient(url, device);
  const before = await client.listOwnKeys(device.deviceId);
  if (before.status !== 200) return `List refused: ${before.status} ${before.response.json.error?.message ?? ''}`.trim();
  const id = randomUUID();
  const response = await client.escrow({ id, deviceId: device.deviceId, volumeType: 'operatingSystemVolume', key: recoveryPassword() });
  if (response.status !== 200) return `Escrow refused: ${response.status} ${response.json.error?.message ?? ''}`.trim();
  const after = await client.listOwnKeys(device.deviceId);
  // The simulated disk carries the protector just escrowed: each run is a rotation.
  const status = await client.reportStatus(
    device.deviceId,
    [
      {
        volumeType: 1,
        protectionStatus: 'on',
        recoveryPasswordIds: [id],
        mountPoint: 'C:',
        encryptionPercentage: 100,
        keyProtectorTypes: ['tpm'],
      },
    ],
    'node-reference/1',
  );
  if (status.status !== 200) return `Status refused: ${status.status} ${status.json.error?.message ?? ''}`.trim();
  return `Escrowed key ${id} for device ${device.deviceId}; the service now lists ${after.keys.length} key(s) for it; status reported.`;
}

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({ allowPositionals: true, options: { url: { type: 'string' }, help: { type: 'boolean' } } });
  const command = positionals[0];
  if (values.help || (command !== 'register' && command !== 'escrow')) {
    process.stderr.write(`${usage}\n`);
    if (!values.help) process.exitCode = 2;
    return;
  }
  if (command === 'register') {
    const device = await registerDevice(settings().localStateDir);
    process.stdout.write(
      `Registered device ${device.deviceId} (certificate thumbprint ${device.thumbprint}) in ${settings().localStateDir}/devices.\n`,
    );
    return;
  }
  const line = await escrow(values.url ?? `http://127.0.0.1:${settings().port}`);
  process.stdout.write(`${line}\n`);
  if (!line.startsWith('Escrowed')) process.exitCode = 1;
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n${usage}\n`);
  process.exitCode = 1;
});
