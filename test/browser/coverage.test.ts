import { expect } from '@jest/globals';
import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { Browser } from 'playwright-core';
import { startAzuriteTables, type RunningAzurite } from '../../scripts/devhost/azurite';
import { startLocalHost, stopLocalHosts, type LocalHost } from '../../scripts/devhost/localHost';
import { launchBrowser, openPage, screenshot } from '../support/browser';
import { callOn, READ_BASIC, tokenWith, WRITE } from '../support/client';
import { recoveryPassword } from '../support/fixtures';
import { seedInventory } from '../support/inventory';
import { mapLimit } from '../support/keys';
import { runScript } from '../support/scripts';

// The console's Coverage view in Chromium, on an Azurite and a host of its own (a report is computed
// over everything in its storage): devices with names and owners in the inventory, keys and statuses
// through the API, `npm run coverage`, then the counts, a state's devices, and the CSV download.

jest.setTimeout(300_000);

const KEYS = '/v1.0/informationProtection/bitlocker/recoveryKeys';
const STATUSES = '/v1.0/informationProtection/bitlocker/deviceStatuses';

let azurite: RunningAzurite;
let host: LocalHost;
let browser: Browser;

interface Device {
  deviceId: string;
  name: string;
  owner: string;
  keyId?: string;
  reported?: string[];
}

const devices: Device[] = [];
function add(count: number, prefix: string, make: (d: Device) => Partial<Device>): void {
  for (let i = 0; i < count; i++) {
    const d: Device = {
      deviceId: randomUUID(),
      name: `${prefix}-${String(i + 1).padStart(3, '0')}`,
      owner: `${prefix.toLowerCase()}${i + 1}@contoso.test`,
    };
    devices.push({ ...d, ...make(d) });
  }
}

async function seed(): Promise<void> {
  add(12, 'LAPTOP', () => {
    const keyId = randomUUID();
    return { keyId, reported: [keyId] };
  });
  add(8, 'DESK', () => {
    const keyId = randomUUID();
    return { keyId, reported: [keyId, randomUUID()] };
  });
  add(5, 'KIOSK', () => ({}));
  add(3, 'SPARE', () => ({ keyId: randomUUID() }));
  devices.push({ deviceId: randomUUID(), name: '=cmd|calc', owner: '@risky', keyId: randomUUID(), reported: [] });
  devices[devices.length - 1].reported = [devices[devices.length - 1].keyId!, randomUUID()];

  // The inventory as a complete run left it (its own tests read it from Graph).
  await seedInventory(azurite.connectionString, devices);

  const writer = await tokenWith(WRITE);
  await mapLimit(devices, 8, async (d) => {
    if (d.keyId) {
      const escrow = await callOn(host.url, 'PATCH', KEYS, {
        token: writer,
        body: { id: d.keyId, deviceId: d.deviceId, volumeType: 1, key: recoveryPassword() },
      });
      expect(escrow.status).toBe(200);
    }
    if (d.reported) {
      const body = { volumes: [{ volumeType: 1, protectionStatus: 'on', recoveryPasswordIds: d.reported }] };
      expect((await callOn(host.url, 'PUT', `${STATUSES}/${d.deviceId}`, { token: writer, body })).status).toBe(200);
    }
  });
  const run = await runScript('coverage', [], { STORAGE_CONNECTION_STRING: azurite.connectionString }, 120_000);
  expect(run.code).toBe(0);
}

beforeAll(async () => {
  azurite = await startAzuriteTables({ port: 0, inMemory: true, silent: true });
  [host, browser] = await Promise.all([startLocalHost({ STORAGE_CONNECTION_STRING: azurite.connectionString }), launchBrowser()]);
  await seed();
}, 240_000);

afterAll(async () => {
  await browser?.close();
  await stopLocalHosts();
  await azurite?.stop();
});

it('shows the counts per state, a state’s devices with names and owners, and downloads them as safe CSV', async () => {
  const { page, context, requested, errors } = await openPage(browser, host.url);
  await page.goto(`${host.url}/helpdesk`);
  for (const role of ['BitLockerKey.Read.All', 'AuditLog.Read.All'])
    await page.getByRole('checkbox', { name: new RegExp(role.replace(/\./g, '\\.')) }).uncheck();
  await page.getByRole('checkbox', { name: new RegExp(READ_BASIC.replace(/\./g, '\\.')) }).check();
  await page.getByRole('button', { name: 'Sign in for development' }).click();
  await page.getByRole('button', { name: 'Show coverage' }).click();

  const counts = page.locator('#coverage-counts button');
  await page.getByRole('button', { name: 'Key missing: 9' }).waitFor();
  expect(await counts.allTextContents()).toEqual([
    'Rotation overdue: 0',
    'No keys escrowed: 5',
    'Key missing: 9',
    'No recent report: 3',
    'Covered: 12',
  ]);
  expect(await page.locator('#coverage-status').textContent()).toMatch(
    /^Report of \d{4}-\d\d-\d\d \d\d:\d\d UTC: 29 devices, 0 with nothing to unlock\.$/,
  );
  await page.locator('#coverage-rows tr').nth(8).waitFor();
  const missing = devices.filter((d) => d.reported && d.reported.length > 1);
  const shown = await page.locator('#coverage-rows tr').evaluateAll((trs) =>
    trs.map((tr) =>
      Array.from(tr.querySelectorAll('td'))
        .slice(0, 3)
        .map((td) => td.textContent),
    ),
  );
  expect(shown.sort()).toEqual(missing.map((d) => [d.name, d.owner, d.deviceId]).sort());
  await screenshot(page, 'coverage-missingKey');

  await page.getByRole('button', { name: 'No keys escrowed: 5' }).click();
  await page.getByRole('heading', { name: 'No keys escrowed (5)' }).waitFor();
  const kiosks = devices.filter((d) => d.name.startsWith('KIOSK-')).sort((a, b) => (a.deviceId < b.deviceId ? -1 : 1));
  expect(await page.locator('#coverage-rows tr td:first-child').allTextContents()).toEqual(kiosks.map((d) => d.name));

  await page.getByRole('button', { name: 'Key missing: 9' }).click();
  await page.getByRole('heading', { name: 'Key missing (9)' }).waitFor();
  const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'Download CSV' }).click()]);
  expect(download.suggestedFilename()).toBe('coverage-missingKey.csv');
  const csv = await readFile(await download.path(), 'utf8');
  const lines = csv.trimEnd().split('\r\n');
  expect(lines[0]).toBe(
    'deviceId,displayName,userPrincipalName,state,flags,lastReportedDateTime,liveKeyCount,missingKeyIds,staleKeyIds,overdueKeyIds',
  );
  expect(lines).toHaveLength(10);
  const risky = devices[devices.length - 1];
  expect(lines.find((line) => line.startsWith(risky.deviceId))).toMatch(new RegExp(`^${risky.deviceId},'=cmd\\|calc,'@risky,missingKey,,`));

  // Into test-artifacts/ (git-ignored), for a person to look at; docs/coverage-console.png is a copy of one.
  await screenshot(page, 'coverage-console');
  expect(requested.filter((url) => new URL(url).origin !== new URL(host.url).origin)).toEqual([]);
  expect(errors).toEqual([]);
  await context.close();
});
