import { expect } from '@jest/globals';
import { randomUUID } from 'node:crypto';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser } from 'playwright-core';
import { startAzuriteTables, type RunningAzurite } from '../../scripts/devhost/azurite';
import { startLocalHost, stopLocalHosts, type LocalHost } from '../../scripts/devhost/localHost';
import { DeviceClient } from '../../scripts/cli/device/client';
import { registerDevice } from '../../scripts/cli/device/identity';
import { mintDevelopmentToken } from '../../shared/auth/developmentToken';
import { launchBrowser, openPage, screenshot } from '../support/browser';
import { callOn, WRITE } from '../support/client';
import { recoveryPassword } from '../support/fixtures';
import { seedInventory } from '../support/inventory';
import { idWithPrefix, mapLimit, randomHex } from '../support/keys';

// Devices by name in the console, and decoys that cannot bury a real key: on an Azurite and a host of
// their own (the inventory is seeded as a complete run left it), a real device escrows its key itself;
// another device holds 30 keys whose ids start with the same 8 characters. The search by those 8
// characters lists the real device's key first, every row and the summary name the devices and owners,
// and so do the reveal dialog, the revealed key and the key's history.

jest.setTimeout(240_000);

const KEYS = '/v1.0/informationProtection/bitlocker/recoveryKeys';
const DECOYS = 30;

let azurite: RunningAzurite;
let host: LocalHost;
let browser: Browser;
const prefix = randomHex(8);
const realKeyId = idWithPrefix(prefix);
let realDevice: string;
const decoyDevice = randomUUID();

beforeAll(async () => {
  const stateDir = await mkdtemp(join(tmpdir(), 'escrow-names-'));
  azurite = await startAzuriteTables({ port: 0, inMemory: true, silent: true });
  [host, browser] = await Promise.all([
    startLocalHost({
      STORAGE_CONNECTION_STRING: azurite.connectionString,
      DEVICE_AUTH: 'local',
      AUTH_MODE: 'local',
      LOCAL_STATE_DIR: stateDir,
    }),
    launchBrowser(),
  ]);
  const device = await registerDevice(stateDir);
  realDevice = device.deviceId;
  await seedInventory(azurite.connectionString, [
    { deviceId: realDevice, name: 'LAPTOP-ANA', owner: 'ana@contoso.test' },
    { deviceId: decoyDevice, name: 'KIOSK-13' },
  ]);
  // The real key, escrowed by its device; then the decoys, written later (newer), by a writer.
  const escrow = await new DeviceClient(host.url, device).escrow({
    id: realKeyId,
    deviceId: realDevice,
    volumeType: '1',
    key: recoveryPassword(),
  });
  expect(escrow.status).toBe(200);
  const writer = await mintDevelopmentToken(stateDir, { roles: [WRITE] });
  await mapLimit(
    Array.from({ length: DECOYS }, () => idWithPrefix(prefix)),
    8,
    async (id) => {
      const body = { id, deviceId: decoyDevice, volumeType: 1, key: recoveryPassword() };
      expect((await callOn(host.url, 'PATCH', KEYS, { token: writer, body })).status).toBe(200);
    },
  );
}, 200_000);

afterAll(async () => {
  await browser?.close();
  await stopLocalHosts();
  await azurite?.stop();
});

it('names the devices in the results, the reveal, the key view and the history; decoys do not bury the real key', async () => {
  const { page, context, requested, errors } = await openPage(browser, host.url);
  await page.goto(`${host.url}/helpdesk`);
  await page.getByRole('button', { name: 'Sign in for development' }).click();
  await page.getByLabel('Key ID or device ID').fill(prefix.toUpperCase());
  await page.getByRole('button', { name: 'Search', exact: true }).click();

  const summary = page.locator('#results-summary');
  await page.waitForFunction(() => /devices hold them/.test(document.getElementById('results-summary')?.textContent ?? ''));
  expect(await summary.textContent()).toBe(
    `${DECOYS + 1} key IDs start with ${prefix}. Ask the user to read out more characters of the key ID.` +
      ` 2 devices hold them, the fewest matches first: LAPTOP-ANA (ana@contoso.test), device ${realDevice} (1);` +
      ` KIOSK-13, device ${decoyDevice} (${DECOYS}). Ask the user for their device's name.`,
  );
  const rows = page.locator('#results-rows tr');
  expect(await rows.count()).toBe(DECOYS + 1);
  // The real key first, though every decoy is newer; each row names its device.
  await page.waitForFunction(() => !/^$/.test(document.querySelector('#results-rows .device-name')?.textContent ?? ''));
  const firstRow = await rows
    .first()
    .locator('td')
    .evaluateAll((tds) => tds.slice(0, 2).map((td) => td.textContent));
  expect(firstRow).toEqual([realKeyId, `LAPTOP-ANA (ana@contoso.test)${realDevice}`]);
  const decoyNames = await page.locator('#results-rows tr:not(:first-child) .device-name').allTextContents();
  expect(new Set(decoyNames)).toEqual(new Set(['KIOSK-13']));
  await screenshot(page, 'helpdesk-device-names');

  await page.getByRole('button', { name: `Reveal key ${realKeyId} of device ${realDevice}` }).click();
  const dialog = page.getByRole('dialog');
  expect(await dialog.locator('#reveal-dialog-id').textContent()).toBe(
    `${realKeyId} of LAPTOP-ANA (ana@contoso.test), device ${realDevice}`,
  );
  await dialog.getByLabel('Reason').selectOption({ index: 1 });
  await dialog.getByRole('button', { name: 'Reveal' }).click();
  await page.locator('#revealed').waitFor();
  expect(await page.locator('#revealed-id').textContent()).toBe(`${realKeyId} of LAPTOP-ANA (ana@contoso.test), device ${realDevice}`);

  await page.getByRole('button', { name: `History of key ${realKeyId}` }).click();
  await page.locator('#history-rows tr').nth(1).waitFor();
  await page.waitForFunction(() => /LAPTOP-ANA/.test(document.getElementById('history-rows')?.textContent ?? ''));
  const who = await page.locator('#history-rows tr td:nth-child(2)').allTextContents();
  // The read by the helpdesk, then the escrow by the device itself, named.
  expect(who).toEqual(['helpdesk@contoso.local', expect.stringContaining('LAPTOP-ANA') as unknown]);

  expect(requested.filter((url) => new URL(url).origin !== new URL(host.url).origin)).toEqual([]);
  expect(errors).toEqual([]);
  await context.close();
});
