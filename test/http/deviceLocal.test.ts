import { expect } from '@jest/globals';
import { execFile } from 'node:child_process';
import { mkdtemp, readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { startLocalHost, stopLocalHosts, type LocalHost } from '../../scripts/devhost/localHost';
import { recoveryPassword } from '../support/fixtures';
import { randomUUID } from 'node:crypto';
import { callOn, READ, READ_BASIC } from '../support/client';
import { COLLECTION } from '../support/keys';
import { mintDevelopmentToken } from '../../shared/auth/developmentToken';
import { DeviceClient } from '../../scripts/cli/device/client';
import { loadDevice } from '../../scripts/cli/device/identity';

// The local walkthrough (docs/devices.md): a host with DEVICE_AUTH=local, then
// `npm run device -- register` and `npm run device -- escrow` as the compiled CLI, in a state folder of their own.

const run = promisify(execFile);
const CLI = join(__dirname, '../../dist/scripts/cli/device-client.js');

let host: LocalHost;
let stateDir: string;

const device = (...args: string[]) => run(process.execPath, [CLI, ...args], { env: { ...process.env, LOCAL_STATE_DIR: stateDir } });

beforeAll(async () => {
  stateDir = await mkdtemp(join(tmpdir(), 'escrow-device-'));
  host = await startLocalHost({ DEVICE_AUTH: 'local', LOCAL_STATE_DIR: stateDir });
}, 60_000);

afterAll(() => stopLocalHosts());

it('register records a device in the local directory; escrow stores a key for it, reports its status and prints no password', async () => {
  const registered = await device('register');
  const deviceId = /Registered device ([0-9a-f-]{36})/.exec(registered.stdout)?.[1];
  expect(deviceId).toBeDefined();
  expect(await readdir(join(stateDir, 'devices'))).toEqual([`${deviceId}.json`]);

  const first = await device('escrow', '--url', host.url);
  expect(first.stdout).toMatch(
    new RegExp(
      `^Escrowed key [0-9a-f-]{36} for device ${deviceId}\\.\\nThe service now lists 1 key\\(s\\) for device ${deviceId}; status reported\\.\\n$`,
    ),
  );
  // The simulated disk keeps its protector: the second run has nothing to escrow.
  const second = await device('escrow', '--url', host.url);
  expect(second.stdout).toBe(`The service now lists 1 key(s) for device ${deviceId}; status reported.\n`);
  // Every run reports the device's status: the protector on its disk is the key it escrowed.
  const lastKey = /^Escrowed key ([0-9a-f-]{36})/.exec(first.stdout)![1];
  const status = await callOn(host.url, 'GET', `/v1.0/informationProtection/bitlocker/deviceStatuses/${deviceId}`, {
    token: await mintDevelopmentToken(stateDir, { roles: [READ_BASIC] }),
  });
  expect({ status: status.status, body: status.json }).toEqual({
    status: 200,
    body: {
      '@odata.context': expect.stringMatching(/\/\$metadata#informationProtection\/bitlocker\/deviceStatuses\/\$entity$/),
      deviceId,
      lastReportedDateTime: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
      clientVersion: 'node-reference/1',
      volumes: [
        {
          volumeType: 'operatingSystemVolume',
          protectionStatus: 'on',
          recoveryPasswordIds: [lastKey],
          mountPoint: 'C:',
          encryptionPercentage: 100,
          keyProtectorTypes: ['tpm'],
        },
      ],
    },
  });
  // Nothing shaped like a recovery password on either output.
  const password = new RegExp(recoveryPassword().replace(/\d/g, '\\d'));
  expect(`${first.stdout}${first.stderr}${second.stdout}${second.stderr}`).not.toMatch(password);
});

it('a key the helpdesk revealed is rotated by the next run: successor escrowed, old protector and key retired', async () => {
  const registered = await device('register');
  const deviceId = /Registered device ([0-9a-f-]{36})/.exec(registered.stdout)![1];
  const first = await device('escrow', '--url', host.url);
  const oldId = /^Escrowed key ([0-9a-f-]{36})/.exec(first.stdout)![1];
  const reader = await mintDevelopmentToken(stateDir, { roles: [READ] });
  expect((await callOn(host.url, 'GET', `${COLLECTION}/${oldId}?$select=key`, { token: reader })).status).toBe(200);

  const rotated = await device('escrow', '--url', host.url);
  const newId = new RegExp(`^Rotated key ${oldId} -> ([0-9a-f-]{36})\\n`).exec(rotated.stdout)?.[1];
  expect(rotated.stdout).toBe(
    `Rotated key ${oldId} -> ${newId}\nThe service now lists 1 key(s) for device ${deviceId}; status reported.\n`,
  );

  // The device lists only the successor; the old key is a deleted item that names it.
  const listed = await new DeviceClient(host.url, await loadDevice(stateDir)).listOwnKeys(deviceId);
  expect(listed.keys.map((k) => k.id)).toEqual([newId]);
  const basic = await mintDevelopmentToken(stateDir, { roles: [READ_BASIC] });
  const deleted = await callOn(host.url, 'GET', `/v1.0/directory/deletedItems/${oldId}`, { token: basic });
  expect({ status: deleted.status, supersededBy: deleted.json['@escrow.supersededBy'] }).toEqual({ status: 200, supersededBy: newId });
  const status = await callOn(host.url, 'GET', `/v1.0/informationProtection/bitlocker/deviceStatuses/${deviceId}`, { token: basic });
  expect((status.json.volumes as { recoveryPasswordIds: string[] }[])[0].recoveryPasswordIds).toEqual([newId]);

  // Nothing left to do: the successor was never revealed.
  expect((await device('escrow', '--url', host.url)).stdout).toBe(
    `The service now lists 1 key(s) for device ${deviceId}; status reported.\n`,
  );
});

it("a device may not write another device's status", async () => {
  const client = new DeviceClient(host.url, await loadDevice(stateDir));
  const other = randomUUID();
  const response = await client.reportStatus(other, [{ volumeType: 1, protectionStatus: 'on', recoveryPasswordIds: [] }]);
  expect({ status: response.status, code: response.json.error?.code, message: response.json.error?.message }).toEqual({
    status: 403,
    code: 'authorization_error',
    message: expect.stringMatching(
      new RegExp(`^A device may write only its own status \\(device [0-9a-f-]{36}\\), not device ${other}'s\\.$`),
    ),
  });
});

it('escrow without a registered device says to register first', async () => {
  const empty = await mkdtemp(join(tmpdir(), 'escrow-device-none-'));
  await expect(
    run(process.execPath, [CLI, 'escrow', '--url', host.url], { env: { ...process.env, LOCAL_STATE_DIR: empty } }),
  ).rejects.toMatchObject({
    stderr: expect.stringContaining('npm run device -- register'),
  });
});
