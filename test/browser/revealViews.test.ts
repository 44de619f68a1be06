import { expect } from '@jest/globals';
import { randomUUID } from 'node:crypto';
import type { Browser, Page } from 'playwright-core';
import { developmentOid } from '../../shared/helpdesk/developmentSignIn';
import { startLocalHost, stopLocalHosts, type LocalHost } from '../../scripts/devhost/localHost';
import { launchBrowser, openPage, screenshot, type ConsolePage } from '../support/browser';
import { callOn, token, WRITE } from '../support/client';
import { keyBody, type KeyBody } from '../support/fixtures';
import { startGraphStandIn, type GraphStandIn } from '../support/graphStandIn';
import { COLLECTION } from '../support/keys';
import { GRAPH_RESOURCE, startManagedIdentityStandIn, type ManagedIdentityStandIn } from '../support/managedIdentity';

// The console's approval, self-service and queue views in Chromium, against a host of its own with
// REVEAL_APPROVAL=required and SELF_SERVICE_REVEAL=true, owners from the Graph stand-in.

let browser: Browser;
let identity: ManagedIdentityStandIn;
let graph: GraphStandIn;
let host: LocalHost;
const opened: ConsolePage[] = [];
const ownerDevice = randomUUID();
let ownedKey: KeyBody;

beforeAll(async () => {
  identity = await startManagedIdentityStandIn();
  graph = await startGraphStandIn(await identity.tokenFor(GRAPH_RESOURCE));
  graph.directory.devices.set(ownerDevice, { displayName: 'OWNER-LAPTOP' });
  graph.directory.owners.set(ownerDevice, [developmentOid('owner')!]);
  [browser, host] = await Promise.all([
    launchBrowser(),
    startLocalHost({
      REVEAL_APPROVAL: 'required',
      SELF_SERVICE_REVEAL: 'true',
      GRAPH_BASE_URL: graph.url,
      IDENTITY_ENDPOINT: identity.endpoint,
      IDENTITY_HEADER: identity.header,
    }),
  ]);
  ownedKey = keyBody({ deviceId: ownerDevice });
  expect((await callOn(host.url, 'PATCH', COLLECTION, { token: await token({ roles: [WRITE] }), body: ownedKey })).status).toBe(200);
}, 60_000);

afterAll(async () => {
  for (const { context } of opened.splice(0)) await context.close();
  await browser?.close();
  await stopLocalHosts();
  await graph?.close();
  await identity?.close();
});

// Several people and pages in one test, each waiting on the page: a bound for a loaded machine, not a speed.
jest.setTimeout(120_000);

/** Signs in for development as `user` with `roles`, or as a self-service user. */
async function signIn(user: string, roles: string[], selfService = false): Promise<Page> {
  const console = await openPage(browser, host.url);
  opened.push(console);
  const { page } = console;
  // Generous: each wait is for the page to show an answer, and a loaded machine is slow to give one.
  page.setDefaultTimeout(30_000);
  await page.goto(`${host.url}/helpdesk`);
  for (const role of ['BitLockerKey.ReadBasic.All', 'BitLockerKey.Read.All', 'AuditLog.Read.All', 'BitLockerKey.Approve.All'])
    await page.getByRole('checkbox', { name: new RegExp(`^${role.replace(/\./g, '\\.')}`) }).setChecked(roles.includes(role));
  await page.getByRole('checkbox', { name: /self-service/ }).setChecked(selfService);
  await page.getByLabel('User name').fill(user);
  await page.getByRole('button', { name: 'Sign in for development' }).click();
  await page.getByText(`Signed in as ${user}@contoso.local`).waitFor();
  return page;
}

async function revealThroughDialog(page: Page, keyId: string): Promise<void> {
  await page.getByRole('button', { name: `Reveal key ${keyId}` }).click();
  const dialog = page.getByRole('dialog');
  await dialog.getByLabel('Reason').selectOption({ index: 5 });
  await dialog.getByRole('button', { name: 'Reveal' }).click();
}

it('asks for approval, lets another person approve it, then reveals', async () => {
  const key = keyBody();
  expect((await callOn(host.url, 'PATCH', COLLECTION, { token: await token({ roles: [WRITE] }), body: key })).status).toBe(200);
  const agent = await signIn('agent', ['BitLockerKey.ReadBasic.All', 'BitLockerKey.Read.All']);
  await agent.getByLabel('Key ID or device ID').fill(key.id!);
  await agent.getByRole('button', { name: 'Search', exact: true }).click();
  await revealThroughDialog(agent, key.id!);
  await agent
    .getByRole('dialog')
    .getByText(/Approval needed/)
    .waitFor();
  await agent.getByRole('dialog').getByRole('button', { name: 'Cancel' }).click();

  const approvals = agent.locator('#approvals');
  await approvals.getByLabel('Key ID').fill(key.id!);
  await approvals.getByLabel('Ticket').fill('INC-7');
  await approvals.getByRole('button', { name: 'Request approval' }).click();
  await agent
    .locator('#approvals-status')
    .getByText(/Approval requested/)
    .waitFor();
  const row = agent.locator('#approvals-rows tr', { hasText: key.id! });
  await expect(row.locator('td').nth(5).textContent()).resolves.toBe('pending');
  // The requester holds no approver role: no buttons to decide.
  await expect(row.getByRole('button').count()).resolves.toBe(0);

  const boss = await signIn('boss', ['BitLockerKey.Approve.All']);
  const pending = boss.locator('#approvals-rows tr', { hasText: key.id! });
  await expect(pending.locator('td').nth(1).textContent()).resolves.toBe('agent@contoso.local');
  await expect(pending.locator('td').nth(4).textContent()).resolves.toBe('INC-7');
  await pending.getByRole('button', { name: 'Approve' }).click();
  await boss
    .locator('#approvals-status')
    .getByText(/is approved/)
    .waitFor();
  await screenshot(boss, 'reveal-approvals');

  await agent.getByRole('button', { name: 'Refresh' }).click();
  await agent.locator('#approvals-rows tr', { hasText: key.id! }).getByText('approved').waitFor();
  await revealThroughDialog(agent, key.id!);
  await agent.locator('#revealed-key').waitFor();
  await expect(agent.locator('#revealed-key').textContent()).resolves.toBe(key.key!.replace(/-/g, ' '));
});

it('gives a user without a role "My devices" instead of the search, and reveals their own key', async () => {
  const owner = await signIn('owner', [], true);
  await expect(owner.locator('#find').isHidden()).resolves.toBe(true);
  const row = owner.locator('#my-devices-rows tr', { hasText: ownedKey.id! });
  await expect(row.locator('td').first().textContent()).resolves.toBe('OWNER-LAPTOP');
  await screenshot(owner, 'reveal-my-devices');
  await revealThroughDialog(owner, ownedKey.id!);
  await owner.locator('#revealed-key').waitFor();
  await expect(owner.locator('#revealed-key').textContent()).resolves.toBe(ownedKey.key!.replace(/-/g, ' '));
});

it('shows a self-service user with no devices that they have none', async () => {
  const stranger = await signIn('stranger', [], true);
  await stranger.locator('#my-devices-status').getByText('No device of yours has an escrowed recovery key.').waitFor();
  await expect(stranger.locator('#my-devices-table').isHidden()).resolves.toBe(true);
});
