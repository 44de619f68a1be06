import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';

// A real browser for the console's tests: Debian's Chromium driven by playwright-core (whose own
// browser download cannot work here). `.ci/run` installs Chromium when it is missing.

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

/** Git-ignored; screenshots land here for a person to look at. */
export const ARTIFACTS = join(__dirname, '..', '..', 'test-artifacts');

export const VIEWPORT = { width: 1280, height: 720 };

export function launchBrowser(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
}

export interface ConsolePage {
  context: BrowserContext;
  page: Page;
  /** Every URL the page requested, in order: the test asserts they all stay on the host's origin. */
  requested: string[];
  /** Console errors and uncaught exceptions (a CSP violation, a failed load, a bug). */
  errors: string[];
}

/** A fresh context (its own storage and clipboard permission) with a page that records its requests. */
export async function openPage(browser: Browser, origin: string): Promise<ConsolePage> {
  const context = await browser.newContext({ viewport: VIEWPORT });
  await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin });
  const page = await context.newPage();
  const requested: string[] = [];
  page.on('request', (request) => requested.push(request.url()));
  const errors: string[] = [];
  page.on('console', (message) => void (message.type() === 'error' && errors.push(message.text())));
  page.on('pageerror', (error) => errors.push(error.message));
  return { context, page, requested, errors };
}

export async function screenshot(page: Page, name: string): Promise<string> {
  await mkdir(ARTIFACTS, { recursive: true });
  const path = join(ARTIFACTS, `${name}.png`);
  await page.screenshot({ path, fullPage: true });
  return path;
}
