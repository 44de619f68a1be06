import { parseArgs } from 'node:util';
import { settings } from '../../shared/config';
import { DeviceClient, type DeviceResponse } from './device/client';
import { loadDisk, newDisk, saveDisk } from './device/disk';
import { loadDevice, registerDevice } from './device/identity';
import { rotateDisclosedKeys } from './device/rotation';

// `npm run device -- register`: creates the local test device (DEVICE_AUTH=local).
// `npm run device -- escrow [--url URL]`: one run of the device, as the Windows client's: list its keys,
// escrow the protectors of its simulated disk that are missing (the first run finds one), rotate the
// keys the helpdesk has read, then report the device's status. One line per step; never a password.

const usage = 'usage: npm run device -- register | escrow [--url http://127.0.0.1:7071]';

async function escrow(url: string): Promise<{ lines: string[]; failed: boolean }> {
  const stateDir = settings().localStateDir;
  const device = await loadDevice(stateDir);
  const disk = await loadDisk(stateDir);
  const client = new DeviceClient(url, device);
  const refused = (what: string, response: DeviceResponse) =>
    `${what} refused: ${response.status} ${response.json.error?.message ?? ''}`.trim();

  const before = await client.listOwnKeys(device.deviceId);
  if (before.status !== 200) return { lines: [refused('List', before.response)], failed: true };
  const lines: string[] = [];
  let failed = false;
  for (const protector of disk.protectors.filter((p) => !before.keys.some((k) => k.id === p.id))) {
    const response = await client.escrow({ id: protector.id, deviceId: device.deviceId, volumeType: disk.volumeType, key: protector.key });
    if (response.status === 200 || response.status === 201) lines.push(`Escrowed key ${protector.id} for device ${device.deviceId}.`);
    else {
      lines.push(refused('Escrow', response));
      failed = true;
    }
  }
  const rotation = await rotateDisclosedKeys(client, device.deviceId, disk, before.keys, () => saveDisk(stateDir, disk));
  lines.push(...rotation.lines);

  const after = await client.listOwnKeys(device.deviceId);
  const status = await client.reportStatus(
    device.deviceId,
    [
      {
        volumeType: 1,
        protectionStatus: 'on',
        recoveryPasswordIds: disk.protectors.map((p) => p.id),
        mountPoint: disk.mountPoint,
        encryptionPercentage: 100,
        keyProtectorTypes: ['tpm'],
      },
    ],
    'node-reference/1',
  );
  if (status.status !== 200) lines.push(refused('Status', status));
  else lines.push(`The service now lists ${after.keys.length} key(s) for device ${device.deviceId}; status reported.`);
  return { lines, failed: failed || rotation.failed || status.status !== 200 };
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
    // A new device, a new disk: protectors of the one registered before are not its.
    await saveDisk(settings().localStateDir, newDisk());
    process.stdout.write(
      `Registered device ${device.deviceId} (certificate thumbprint ${device.thumbprint}) in ${settings().localStateDir}/devices.\n`,
    );
    return;
  }
  const run = await escrow(values.url ?? `http://127.0.0.1:${settings().port}`);
  process.stdout.write(run.lines.map((line) => `${line}\n`).join(''));
  if (run.failed) process.exitCode = 1;
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n${usage}\n`);
  process.exitCode = 1;
});
