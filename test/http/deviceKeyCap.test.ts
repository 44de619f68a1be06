import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startLocalHost, stopLocalHosts, type LocalHost } from '../../scripts/devhost/localHost';
import { DeviceClient } from '../../scripts/cli/device/client';
import { registerDevice, type LocalDevice } from '../../scripts/cli/device/identity';
import { mintDevelopmentToken } from '../../shared/auth/developmentToken';
import { AUDIT_READ, auditsPath, type DirectoryAudit, targetFilter } from '../support/audit';
import { callOn, WRITE } from '../support/client';
import { newId, recoveryPassword } from '../support/fixtures';
import { COLLECTION } from '../support/keys';

// MAX_KEYS_PER_DEVICE: a device holds at most so many live keys (Entra ID: 200). Without a cap one
// enrolled device wrote 200 decoy keys sharing a real key's first eight characters, and buried it in the
// helpdesk's prefix search. A private host with a cap of 5, a local device directory of its own.

jest.setTimeout(60_000);

const CAP = 5;
let host: LocalHost;
let stateDir: string;
let device: LocalDevice;
let client: DeviceClient;
let writer: string;

beforeAll(async () => {
  stateDir = await mkdtemp(join(tmpdir(), 'escrow-cap-'));
  host = await startLocalHost({ DEVICE_AUTH: 'local', AUTH_MODE: 'local', LOCAL_STATE_DIR: stateDir, MAX_KEYS_PER_DEVICE: String(CAP) });
  device = await registerDevice(stateDir);
  client = new DeviceClient(host.url, device);
  writer = await mintDevelopmentToken(stateDir, { roles: [WRITE] });
});
afterAll(() => stopLocalHosts());

const keyOf = (deviceId: string) => ({ id: newId(), deviceId, volumeType: '1', key: recoveryPassword() });

it('a device holds at most MAX_KEYS_PER_DEVICE live keys; one more is a 409, audited; a freed place can be used again', async () => {
  const kept = [];
  for (let i = 0; i < CAP; i++) {
    const key = keyOf(device.deviceId);
    expect((await client.escrow(key)).status).toBe(200);
    kept.push(key);
  }
  const refused = keyOf(device.deviceId);
  const answer = await client.escrow(refused);
  expect({ status: answer.status, body: answer.json }).toEqual({
    status: 409,
    body: {
      error: {
        code: 'conflict',
        message: `Device ${device.deviceId} already holds ${CAP} live recovery keys, the most a device may hold (MAX_KEYS_PER_DEVICE); delete keys the device no longer uses before escrowing another.`,
        innerError: expect.any(Object) as unknown,
      },
    },
  });
  // Nothing was stored, and the refusal is in the trail under the key and the device.
  const read = await callOn(host.url, 'GET', `${COLLECTION}/${refused.id}`, { token: writer });
  expect(read.status).toBe(404);
  const auditor = await mintDevelopmentToken(stateDir, { roles: [AUDIT_READ] });
  const trail = await callOn(host.url, 'GET', auditsPath({ $filter: targetFilter(refused.id) }), { token: auditor });
  const events = trail.json.value as unknown as DirectoryAudit[];
  expect(events.map((e) => ({ activity: e.activityDisplayName, result: e.result, reason: e.resultReason }))).toEqual([
    {
      activity: 'Update BitLocker key',
      result: 'failure',
      reason: expect.stringContaining(`already holds ${CAP} live recovery keys`) as unknown,
    },
  ]);

  // A writer cannot move another device's key onto the full device either.
  const elsewhere = keyOf(newId());
  expect((await callOn(host.url, 'PATCH', COLLECTION, { token: writer, body: elsewhere })).status).toBe(200);
  const moved = await callOn(host.url, 'PATCH', `${COLLECTION}/${elsewhere.id}`, { token: writer, body: { deviceId: device.deviceId } });
  expect({ status: moved.status, code: moved.json.error?.code }).toEqual({ status: 409, code: 'conflict' });

  // A repeat of a kept key is no new key: still 200. A deleted key frees its place.
  expect((await client.escrow(kept[0])).status).toBe(200);
  expect((await callOn(host.url, 'DELETE', `${COLLECTION}/${kept[0].id}`, { token: writer })).status).toBe(204);
  expect((await client.escrow(refused)).status).toBe(200);
});

it('a burst of new keys at once does not pass the cap: they are counted one at a time', async () => {
  const other = await registerDevice(stateDir);
  const burst = new DeviceClient(host.url, other);
  const answers = await Promise.all(Array.from({ length: 4 * CAP }, () => burst.escrow(keyOf(other.deviceId))));
  const statuses = answers.map((a) => a.status).sort();
  expect(statuses).toEqual([...Array<number>(CAP).fill(200), ...Array<number>(3 * CAP).fill(409)]);
  const listed = await callOn(host.url, 'GET', `${COLLECTION}?$filter=${encodeURIComponent(`deviceId eq '${other.deviceId}'`)}`, {
    token: writer,
  });
  expect((listed.json.value as unknown[]).length).toBe(CAP);
});
