import { expect } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Browser, Page } from 'playwright-core';
import { AUDIT_READ } from '../support/audit';
import { launchBrowser, openPage, screenshot, type ConsolePage } from '../support/browser';
import { baseUrl, call, callOn, READ, READ_BASIC, tokenWith, WRITE } from '../support/client';
import { keyBody, newId } from '../support/fixtures';
import { COLLECTION, escrowKeys, followPages, idWithPrefix, keyBodies, randomHex } from '../support/keys';
import { startLocalHost, stopLocalHosts } from '../../scripts/devhost/localHost';
import { HttpRequest } from '@azure/functions';
import { developmentTokenHandler } from '../../functions/helpdesk';
import { bodyText, quietContext } from '../support/inProcess';

// The helpdesk console in Debian's Chromium against the run's host: sign in for development, find,
// reveal with a reason, copy, see it hidden, see the history; security headers; nothing fetched
// from any other origin.

const ALL_ROLES = [READ_BASIC, READ, AUDIT_READ];

let browser: Browser;
let writer: string;
const pages: ConsolePage[] = [];

beforeAll(async () => {
  [browser, writer] = await Promise.all([launchBrowser(), tokenWith(WRITE)]);
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await stopLocalHosts();
});

afterEach(async () => {
  // Every request of every page a test opened went to the page's own host, and nowhere else, and
  // nothing failed in it (a CSP violation is a console error).
  for (const { page, requested, errors, context } of pages.splice(0)) {
    const origin = new URL(page.url()).origin;
    expect(requested.filter((url) => new URL(url).origin !== origin)).toEqual([]);
    expect(errors).toEqual([]);
    expect(requested.length).toBeGreaterThan(3);
    await context.close();
  }
});

/** Opens `/` on `origin`, follows its redirect to the console and signs in with `roles`. */
async function signIn(roles: readonly string[], origin = baseUrl()): Promise<Page> {
  const opened = await openPage(browser, origin);
  pages.push(opened);
  const { page } = opened;
  await page.goto(`${origin}/`);
  expect(new URL(page.url()).pathname).toBe('/helpdesk');
  for (const role of ALL_ROLES)
    await page.getByRole('checkbox', { name: new RegExp(role.replace(/\./g, '\\.')) }).setChecked(roles.includes(role));
  await page.getByRole('button', { name: 'Sign in for development' }).click();
  await page.getByText('Signed in as helpdesk@contoso.local').waitFor();
  return page;
}

async function search(page: Page, text: string): Promise<string> {
  await page.getByLabel('Key ID or device ID').fill(text);
  const summary = page.locator('#results-summary');
  const before = await summary.textContent();
  await page.getByRole('button', { name: 'Search', exact: true }).click();
  // A search with the same answer as the last leaves the text as it was: wait for the rows instead.
  await page
    .waitForFunction(
      ([previous]) => {
        const section = document.getElementById('results');
        return section !== null && !section.hidden && document.getElementById('results-summary')?.textContent !== previous;
      },
      [before],
      { timeout: 10_000 },
    )
    .catch(() => undefined);
  await summary.waitFor();
  return (await summary.textContent()) ?? '';
}

const rowIds = (page: Page): Promise<string[]> => page.locator('#results-rows tr td:first-child').allTextContents();

async function reveal(page: Page, keyId: string, reason: string, ticket?: string, details?: string): Promise<void> {
  await page.getByRole('button', { name: `Reveal key ${keyId}` }).click();
  const dialog = page.getByRole('dialog');
  await dialog.getByLabel('Reason').selectOption({ label: reason });
  if (details) await dialog.getByLabel('Details (optional)').fill(details);
  if (ticket) await dialog.getByLabel('Ticket').fill(ticket);
  await dialog.getByRole('button', { name: 'Reveal' }).click();
}

describe('the console over HTTP', () => {
  it('redirects / to /helpdesk', async () => {
    const response = await fetch(`${baseUrl()}/`, { redirect: 'manual' });
    expect({ status: response.status, location: response.headers.get('location') }).toEqual({ status: 302, location: '/helpdesk' });
  });

  it.each(['/helpdesk', '/helpdesk/assets/app.js', '/helpdesk/assets/styles.css', '/helpdesk/config.json', '/helpdesk/assets/nothing.js'])(
    'sends the security headers with %s',
    async (path) => {
      const response = await call('GET', path);
      expect(
        Object.fromEntries(
          ['content-security-policy', 'x-frame-options', 'referrer-policy', 'cache-control', 'x-content-type-options'].map((h) => [
            h,
            response.headers.get(h),
          ]),
        ),
      ).toEqual({
        'content-security-policy':
          "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
        'x-frame-options': 'DENY',
        'referrer-policy': 'no-referrer',
        'cache-control': 'no-store',
        'x-content-type-options': 'nosniff',
      });
      expect(response.headers.get('content-security-policy')).not.toMatch(/unsafe/);
    },
  );

  it('serves the page, its files, and a configuration that says how to sign in', async () => {
    const [page, script, config, missing] = await Promise.all(
      ['/helpdesk', '/helpdesk/assets/app.js', '/helpdesk/config.json', '/helpdesk/assets/..%2Fpackage.json'].map((path) =>
        call('GET', path),
      ),
    );
    expect([page.status, page.headers.get('content-type')]).toEqual([200, 'text/html; charset=utf-8']);
    expect(page.text).toContain('<script type="module" src="/helpdesk/assets/app.js"></script>');
    expect(page.text).not.toMatch(/<script>|<style>|style=/);
    expect([script.status, script.headers.get('content-type')]).toEqual([200, 'text/javascript; charset=utf-8']);
    expect(config.json).toEqual({ signIn: 'local', revealSeconds: 60 });
    expect(missing.status).toBe(404);
  });

  it('mints development tokens for the helpdesk roles only', async () => {
    const ok = await call('POST', '/helpdesk/dev-token', { body: { roles: [READ_BASIC] } });
    expect(ok.status).toBe(200);
    const listed = await call('GET', '/v1.0/informationProtection/bitlocker/recoveryKeys?$top=1', { token: ok.json.accessToken });
    expect(listed.status).toBe(200);
    for (const roles of [[WRITE], [], ['Directory.ReadWrite.All']]) {
      const refused = await call('POST', '/helpdesk/dev-token', { body: { roles } });
      expect(refused.status).toBe(400);
      expect(refused.json.accessToken).toBeUndefined();
    }
  });
});

describe('the development sign-in answers only this machine, in the function itself', () => {
  it('refuses a request a proxy forwarded, and a non-loopback Host reaching the function', async () => {
    for (const header of ['X-Forwarded-For', 'Forwarded']) {
      const refused = await call('POST', '/helpdesk/dev-token', { body: { roles: [READ] }, headers: { [header]: '203.0.113.9' } });
      expect({ status: refused.status, token: refused.json.accessToken }).toEqual({ status: 403, token: undefined });
      expect(refused.json.error.message).toMatch(/only on this machine/);
    }
    // As under `func start` bound to every interface: the function sees the Host the caller used.
    const response = await developmentTokenHandler(
      new HttpRequest({
        method: 'POST',
        url: 'http://10.20.30.40:7071/helpdesk/dev-token',
        headers: { 'content-type': 'application/json' },
        body: { string: JSON.stringify({ roles: [READ] }) },
      }),
      quietContext('devToken'),
    );
    expect(response.status).toBe(403);
    expect(bodyText(response)).not.toMatch(/accessToken/);
  });
});

describe('the console in a browser', () => {
  it('finds a key by 8 characters read out in any case, and says when more characters are needed', async () => {
    const prefix = randomHex(8);
    // The twins on one device: which devices hold a prefix's matches is test/browser/deviceNames.test.ts's.
    const twinsDevice = newId();
    const [single, ...twins] = await escrowKeys(writer, [
      keyBody({ id: idWithPrefix(randomHex(8)) }),
      keyBody({ id: idWithPrefix(prefix), deviceId: twinsDevice }),
      keyBody({ id: idWithPrefix(prefix), deviceId: twinsDevice }),
    ]);
    const page = await signIn(ALL_ROLES);

    expect(await search(page, ` {${single.id!.slice(0, 8).toUpperCase()}} `)).toBe(`One key ID starts with ${single.id!.slice(0, 8)}.`);
    expect(await rowIds(page)).toEqual([single.id]);

    expect(await search(page, prefix.toUpperCase())).toBe(
      `2 key IDs start with ${prefix}. Ask the user to read out more characters of the key ID.`,
    );
    expect((await rowIds(page)).sort()).toEqual(twins.map((t) => t.id).sort());

    // Dashes where the user reads them, or none at all: the next characters tell the twins apart.
    const longer = twins[0].id!.replace(/-/g, '').slice(0, 14);
    expect(await search(page, longer)).toBe(`One key ID starts with ${twins[0].id!.slice(0, 16)}.`);

    expect(await search(page, `${randomHex(8)}`)).toMatch(/^No key ID starts with [0-9a-f]{8}\. Check the characters/);
    expect(await page.locator('#results-table').isHidden()).toBe(true);

    await page.getByLabel('Key ID or device ID').fill('12ab');
    await page.getByRole('button', { name: 'Search', exact: true }).click();
    expect(await page.getByRole('alert').textContent()).toContain('Type at least 8 characters of the key ID');
  });

  it('fills the first page of a device whose 30 new keys the service confirms a few a page', async () => {
    const deviceId = newId();
    const bodies = keyBodies(30, { deviceId });
    for (const body of bodies) await escrowKeys(writer, [body], 1);
    const page = await signIn([READ_BASIC]);
    // Unconfirmed, the service answers short pages (8 checks each); the console follows them to a full page.
    const summary = await search(page, deviceId);
    expect(summary).toMatch(new RegExp(`^(More than (2[5-9]|30)|30) keys found for ${deviceId}, newest first\\.$`));
    expect((await rowIds(page)).length).toBeGreaterThanOrEqual(25);
  });

  it("lists a device's keys newest first, with their volume types and dates, page by page", async () => {
    const deviceId = newId();
    const bodies = keyBodies(27, { deviceId });
    bodies[26].volumeType = 'fixedDataVolume';
    // One by one, so that their creation times are in order.
    for (const body of bodies) await escrowKeys(writer, [body], 1);
    // A device's first list confirms its new keys a few a page; listed once, its pages are full, as on any
    // day but a device's first (the console fills a short first page: test below).
    await followPages(`${COLLECTION}?$filter=deviceId eq '${deviceId}'`, await tokenWith(READ_BASIC), 10);
    const page = await signIn([READ_BASIC]);

    expect(await search(page, `{${deviceId.toUpperCase()}}`)).toBe(`More than 25 keys found for ${deviceId}, newest first.`);
    const newestFirst = bodies.map((b) => b.id!).reverse();
    // The service pages in its own order; the page sorts what it has shown so far.
    const firstPage = await rowIds(page);
    expect(firstPage).toEqual(newestFirst.filter((id) => firstPage.includes(id)));
    expect(firstPage).toHaveLength(25);
    const row = (id: string) => page.locator('#results-rows tr', { hasText: id }).locator('td');
    const created = expect.stringMatching(/^\d{4}-\d{2}-\d{2} \d{2}:\d{2} UTC$/);
    const volumeOf = (id: string): string =>
      bodies.find((b) => b.id === id)!.volumeType === 'fixedDataVolume' ? 'Fixed data' : 'Operating system';
    // The device cell: its name once looked up (none in this storage's inventory), then its id.
    const device = expect.stringMatching(new RegExp(`^(|\\(name unknown\\))${deviceId}$`));
    expect((await row(firstPage[0]).allTextContents()).slice(1, 4)).toEqual([device, volumeOf(firstPage[0]), created]);

    await page.getByRole('button', { name: 'More results' }).click();
    await page.getByText('27 keys found').waitFor();
    expect(await rowIds(page)).toEqual(newestFirst);
    expect((await row(bodies[26].id!).allTextContents()).slice(1, 4)).toEqual([device, 'Fixed data', created]);
    expect(await page.getByRole('button', { name: 'More results' }).isHidden()).toBe(true);
  });

  it("shows each key's rotation: revealed by whom, rotation required, rotated with its successor; and the keys awaiting it", async () => {
    const deviceId = newId();
    const [untouched, required, rotated] = keyBodies(3, { deviceId });
    for (const body of [untouched, required, rotated]) await escrowKeys(writer, [body], 1);
    const reader = await tokenWith(READ);
    for (const body of [required, rotated]) {
      expect(
        (await call('GET', `/v1.0/informationProtection/bitlocker/recoveryKeys/${body.id}?$select=key`, { token: reader })).status,
      ).toBe(200);
    }
    const successor = keyBody({ deviceId, '@escrow.replaces': rotated.id });
    expect((await call('PATCH', '/v1.0/informationProtection/bitlocker/recoveryKeys', { token: writer, body: successor })).status).toBe(
      200,
    );
    const page = await signIn([READ_BASIC]);

    expect(await search(page, deviceId)).toBe(`4 keys found for ${deviceId}, newest first.`);
    const rotationOf = async (id: string) => (await page.locator('#results-rows tr', { hasText: id }).locator('td').allTextContents())[4];
    const when = '\\d{4}-\\d{2}-\\d{2} \\d{2}:\\d{2} UTC';
    expect(await rotationOf(untouched.id!)).toBe('');
    expect(await rotationOf(required.id!)).toMatch(new RegExp(`^Revealed ${when} by object [0-9a-f-]{36}\\. Rotation required\\.$`));
    expect(await rotationOf(rotated.id!)).toMatch(
      new RegExp(`^Revealed ${when} by object [0-9a-f-]{36}\\. Rotated ${when}: read the successor ${successor.id}\\.$`),
    );
    // The words are in the accessible text of the row.
    await page.getByRole('row', { name: new RegExp(`${required.id}.*Rotation required`) }).waitFor();

    await page.getByRole('button', { name: 'Show keys awaiting rotation' }).click();
    await page.getByText(/key\(s\) awaiting rotation, longest waiting first\./).waitFor();
    expect(await page.locator('#awaiting-rows tr').count()).toBeGreaterThan(0);
  });

  it('reveals a key with a reason, copies it, and shows the read with its reason in the history', async () => {
    const [body] = await escrowKeys(writer, [keyBody()]);
    const keyId = body.id!;
    const page = await signIn(ALL_ROLES);
    await search(page, keyId.slice(0, 8));

    await reveal(page, keyId, 'The user forgot the PIN', 'INC-4711', 'called from the train');
    const shown = page.locator('#revealed-key');
    await shown.waitFor();
    expect(await shown.locator('.group').allTextContents()).toEqual(body.key!.split('-'));
    expect(await page.locator('#revealed-countdown').textContent()).toMatch(/^Hidden in (60|59|58) s\.$/);
    await page.getByRole('button', { name: 'Copy' }).click();
    await page.getByText('Copied.').waitFor();
    expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(body.key);
    // At 1280x720 nothing needs scrolling sideways, the key included.
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(1280);
    await screenshot(page, 'helpdesk-revealed');

    await page.getByRole('button', { name: `History of key ${keyId}` }).click();
    await page.getByRole('heading', { name: `History of key ${keyId}` }).waitFor();
    const rows = page.locator('#history-rows tr');
    await rows.first().waitFor();
    const cells = (await rows.allInnerTexts()).map((row) => row.split('\t'));
    // Newest first: the read with its reason and ticket, then the escrow by the device-management app.
    expect(cells.map((row) => row.slice(1))).toEqual([
      ['helpdesk@contoso.local', 'Read BitLocker key', 'Done', 'The user forgot the PIN: called from the train', 'INC-4711'],
      ['application 22222222-2222-2222-2222-222222222222', 'Add BitLocker key', 'Done', '', ''],
    ]);
    expect(cells.every((row) => /^\d{4}-\d{2}-\d{2} \d{2}:\d{2} UTC$/.test(row[0]))).toBe(true);
    await screenshot(page, 'helpdesk-history');
  });

  it('a new search clears the revealed key and its history at once, before its answer arrives', async () => {
    const [body, other] = await escrowKeys(writer, [keyBody(), keyBody()]);
    const page = await signIn(ALL_ROLES);
    await search(page, body.id!.slice(0, 8));
    await reveal(page, body.id!, 'The user forgot the PIN');
    await page.locator('#revealed-key .group').first().waitFor();
    await page.getByRole('button', { name: `History of key ${body.id!}` }).click();
    await page.locator('#history-rows tr').first().waitFor();

    // The next caller's search: nothing of the last key may stay on screen while its answer loads.
    await page.getByLabel('Key ID or device ID').fill(other.id!.slice(0, 8));
    await page.getByRole('button', { name: 'Search', exact: true }).click();
    expect(await page.locator('#revealed').isHidden()).toBe(true);
    expect(await page.locator('#revealed-key').textContent()).toBe('');
    expect(await page.locator('#history').isHidden()).toBe(true);
    expect(await page.locator('#history-rows tr').count()).toBe(0);
    expect(await page.content()).not.toContain(body.key!.split('-')[0]);
  });

  it('hides a revealed key after its time, and at once when the page is left', async () => {
    const host = await startLocalHost({ HELPDESK_REVEAL_SECONDS: '2' });
    const [body] = await escrowKeys(writer, [keyBody()]);
    const page = await signIn(ALL_ROLES, host.url);
    await search(page, body.id!);

    await reveal(page, body.id!, 'Firmware or BIOS changed');
    await page.locator('#revealed-key .group').first().waitFor();
    const revealedAt = Date.now();
    await page.locator('#revealed').waitFor({ state: 'hidden', timeout: 6_000 });
    expect(Date.now() - revealedAt).toBeGreaterThan(1_000);
    expect(await page.content()).not.toContain(body.key!.split('-')[0]);
    expect(await page.getByRole('status').filter({ hasText: 'The key was hidden' }).count()).toBe(1);

    await reveal(page, body.id!, 'Firmware or BIOS changed');
    await page.locator('#revealed-key .group').first().waitFor();
    await page.evaluate(() => {
      Object.defineProperty(document, 'visibilityState', { value: 'hidden', configurable: true });
      document.dispatchEvent(new Event('visibilitychange'));
    });
    expect(await page.locator('#revealed').isHidden()).toBe(true);
    expect(await page.locator('#revealed-key').textContent()).toBe('');
  }, 60_000);

  it('offers no reveal or history to a ReadBasic.All user, and says why', async () => {
    const [body] = await escrowKeys(writer, [keyBody()]);
    const page = await signIn([READ_BASIC]);
    await search(page, body.id!.slice(0, 8));
    expect(await page.locator('#results-rows td.row-actions').textContent()).toBe('Revealing needs the BitLockerKey.Read.All role.');
    expect(await page.getByRole('button', { name: /Reveal key|History/ }).count()).toBe(0);
  });

  it('is operable by keyboard alone, and readable at 200% zoom', async () => {
    const [body] = await escrowKeys(writer, [keyBody()]);
    const page = await signIn(ALL_ROLES);
    // Sign-in puts the focus in the search box.
    await page.keyboard.type(body.id!.slice(0, 8));
    await page.keyboard.press('Enter');
    await page.getByText('One key ID starts with').waitFor();
    await page.keyboard.press('Tab'); // Search
    await page.keyboard.press('Tab'); // Reveal key
    await page.keyboard.press('Enter');
    // The dialog opens on its first field.
    await page.keyboard.press('ArrowDown');
    await page.keyboard.press('ArrowDown');
    await page.keyboard.press('Tab'); // Details
    await page.keyboard.press('Tab'); // Ticket
    await page.keyboard.type('KB-1');
    await page.keyboard.press('Enter');
    await page.locator('#revealed-key .group').first().waitFor();
    expect(await page.evaluate(() => document.activeElement?.id)).toBe('revealed-title');

    // 200% zoom of a 1280-pixel window is a 640-pixel-wide page: still no sideways scrolling of the page.
    await page.setViewportSize({ width: 640, height: 360 });
    await sleep(100);
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(640);
  });

  it('in entra mode offers the Microsoft sign-in only: no development token, MSAL loaded under the CSP', async () => {
    const host = await startLocalHost({
      AUTH_MODE: 'entra',
      AUTH_TENANT_ID: '72f988bf-86f1-41af-91ab-2d7cd011db47',
      AUTH_AUDIENCE: 'api://bitlocker-escrow',
      HELPDESK_CLIENT_ID: 'a1b2c3d4-0000-4000-8000-000000000001',
      ENCRYPTION_KEYS: JSON.stringify({ v1: randomBytes(32).toString('base64') }),
      ENCRYPTION_ACTIVE_KEY: 'v1',
    });
    const minted = await callOn(host.url, 'POST', '/helpdesk/dev-token', { body: { roles: [READ] } });
    expect([minted.status, minted.json.accessToken]).toEqual([404, undefined]);
    const page = await callOn(host.url, 'GET', '/helpdesk');
    expect(page.headers.get('content-security-policy')).toContain("connect-src 'self' https://login.microsoftonline.com;");

    const opened = await openPage(browser, host.url);
    pages.push(opened);
    await opened.page.goto(`${host.url}/helpdesk`);
    await opened.page.getByRole('button', { name: 'Sign in with Microsoft' }).waitFor();
    expect(await opened.page.getByRole('button', { name: 'Sign in for development' }).isHidden()).toBe(true);
  }, 60_000);
});
