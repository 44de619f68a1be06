import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startAzuriteTables } from '../../../scripts/devhost/azurite';
import { startLocalHost } from '../../../scripts/devhost/localHost';

// What the test run provides, started once in jest's main process by the global setups of the projects
// that need it (jest.config.js), and reached by test files through the environment set here, which
// jest's workers inherit:
//   local mode   AUTH_MODE=local and LOCAL_STATE_DIR, a fresh folder for its development signing and
//                encryption keys (test tokens are signed with them; loading the functions needs them)
//   storage      one in-memory Azurite: STORAGE_CONNECTION_STRING
//   host         one local host (the compiled app, as `npm start` runs it): ESCROW_TEST_URL
// Each is started at most once however many projects ask for it, in whatever order jest runs their setups.

interface Running {
  localMode?: true;
  stopAzurite?: () => Promise<void>;
  stopHost?: () => Promise<void>;
}

declare global {
  var __escrowServices: Running | undefined;
}

const running = (): Running => (globalThis.__escrowServices ??= {});

export async function ensureLocalMode(): Promise<void> {
  if (running().localMode) return;
  running().localMode = true;
  Object.assign(process.env, { AUTH_MODE: 'local', LOCAL_STATE_DIR: await mkdtemp(join(tmpdir(), 'escrow-test-')) });
}

export async function ensureStorage(): Promise<void> {
  await ensureLocalMode();
  if (running().stopAzurite) return;
  const azurite = await startAzuriteTables({ port: 0, inMemory: true, silent: true });
  running().stopAzurite = () => azurite.stop();
  process.env.STORAGE_CONNECTION_STRING = azurite.connectionString;
}

export async function ensureHost(): Promise<void> {
  await ensureStorage();
  if (running().stopHost) return;
  const host = await startLocalHost();
  running().stopHost = () => host.stop();
  process.env.ESCROW_TEST_URL = host.url;
}

/** Stops whatever was started, the host before the storage it uses. */
export async function stopServices(): Promise<void> {
  const { stopHost, stopAzurite } = running();
  globalThis.__escrowServices = undefined;
  await stopHost?.();
  await stopAzurite?.();
}
