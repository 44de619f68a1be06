import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startAzuriteTables } from '../../scripts/azurite';
import { startLocalHost } from './localHost';

// One in-memory Azurite and one local host (the compiled app, as `npm start` runs it) for the whole run.
// Test files reach them through the environment set here, which jest's workers inherit.

interface RunningServices {
  stopAzurite: () => Promise<void>;
  stopHost: () => Promise<void>;
}

declare global {
  var __escrowServices: RunningServices | undefined;
}

export default async function globalSetup(): Promise<void> {
  const azurite = await startAzuriteTables({ port: 0, inMemory: true, silent: true });
  const stateDir = await mkdtemp(join(tmpdir(), 'escrow-test-'));
  Object.assign(process.env, {
    STORAGE_CONNECTION_STRING: azurite.connectionString,
    AUTH_MODE: 'local',
    LOCAL_STATE_DIR: stateDir,
  });
  const host = await startLocalHost();
  process.env.ESCROW_TEST_URL = host.url;
  globalThis.__escrowServices = { stopAzurite: () => azurite.stop(), stopHost: () => host.stop() };
}
