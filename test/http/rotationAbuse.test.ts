import { expect } from '@jest/globals';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { mintDevelopmentToken } from '../../shared/auth/developmentToken';
import { DeviceClient } from '../../scripts/cli/device/client';
import { registerDevice } from '../../scripts/cli/device/identity';
import { startLocalHost, stopLocalHosts, type LocalHost } from '../../scripts/devhost/localHost';
import { callOn, READ, READ_BASIC } from '../support/client';
import { keyBody, newId, recoveryPassword } from '../support/fixtures';
import { item } from '../support/keys';

// What a device must not do with @escrow.replaces (docs/api.md "Single-use keys"), and what a full device
// must still be able to do: rotate a key the helpdesk revealed. A private host with DEVICE_AUTH=local and
// MAX_KEYS_PER_DEVICE=2, on the run's Azurite.

jest.setTimeout(60_000);

let host: LocalHost;
let stateDir: string;
let reader: string;
let basic: string;

interface KeyBody {
  id: string;
  deviceId: string;
  volumeType: string;
  key: string;
}

beforeAll(async () => {
  stateDir = await mkdtemp(join(tmpdir(), 'escrow-rotation-abuse-'));
  host = await startLocalHost({ DEVICE_AUTH: 'local', LOCAL_STATE_DIR: stateDir, MAX_KEYS_PER_DEVICE: '2' });
  [reader, basic] = await Promise.all([
    mintDevelopmentToken(stateDir, { roles: [READ], claims: { upn: 'agent@contoso.example' } }),
    mintDevelopmentToken(stateDir, { roles: [READ_BASIC] }),
  ]);
});

afterAll(() => stopLocalHosts());

async function newDevice(): Promise<{ deviceId: string; client: DeviceClient; body: (more?: Record<string, unknown>) => KeyBody }> {
  const device = await registerDevice(stateDir);
  const body = (more: Record<string, unknown> = {}) =>
    keyBody({ id: newId(), deviceId: device.deviceId, volumeType: 'operatingSystemVolume', key: recoveryPassword(), ...more }) as KeyBody;
  return { deviceId: device.deviceId, client: new DeviceClient(host.url, device), body };
}

const metadata = async (id: string) => (await callOn(host.url, 'GET', item(id), { token: basic })).json;

test('two existing keys cannot supersede each other, so a device cannot make all its keys deletable', async () => {
  const device = await newDevice();
  const [first, second] = [device.body(), device.body()];
  for (const key of [first, second]) expect((await device.client.escrow(key)).status).toBe(200);

  // The second key, already stored, named as the first's successor: refused, nothing linked.
  const cycle = await device.client.escrow({ ...second, '@escrow.replaces': first.id });
  expect(cycle.status).toBe(409);
  expect(JSON.stringify(cycle.json)).toContain(
    `Recovery key ${second.id} already exists; a successor named with @escrow.replaces must be a new key`,
  );
  expect((await metadata(first.id))['@escrow.supersededBy']).toBeUndefined();
  expect((await device.client.deleteKey(first.id)).status).toBe(403);
  expect((await device.client.deleteKey(second.id)).status).toBe(403);
  expect((await metadata(first.id)).id).toBe(first.id);
});

test('a full device still rotates a revealed key, and only a revealed one', async () => {
  const device = await newDevice();
  const [first, second] = [device.body(), device.body()];
  for (const key of [first, second]) expect((await device.client.escrow(key)).status).toBe(200);

  // At the cap, a successor of a key nobody revealed is a new key like any other: refused.
  const unrevealed = await device.client.escrow({ ...device.body(), '@escrow.replaces': first.id });
  expect(unrevealed.status).toBe(409);
  expect(JSON.stringify(unrevealed.json)).toContain('MAX_KEYS_PER_DEVICE');

  expect((await callOn(host.url, 'GET', `${item(first.id)}?$select=key`, { token: reader })).status).toBe(200);
  const successor = device.body({ '@escrow.replaces': first.id });
  const rotated = await device.client.escrow(successor);
  expect({ status: rotated.status, id: (rotated.json as { id?: string }).id }).toEqual({ status: 200, id: successor.id });
  expect((await metadata(first.id))['@escrow.supersededBy']).toBe(successor.id);
  expect((await device.client.deleteKey(first.id)).status).toBe(204);
});
