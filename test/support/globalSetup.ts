import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startAzuriteTables } from '../../scripts/azurite';

// One in-memory Azurite and one local host (the compiled app, as `npm start` runs it) for the whole run.
// Test files reach them through the environment set here, which jest's workers inherit.

interface RunningServices {
  stopAzurite: () => Promise<void>;
  host: ChildProcess;
}

declare global {
  // eslint-disable-next-line no-var
  var __escrowServices: RunningServices | undefined;
}

function startLocalHost(env: NodeJS.ProcessEnv): Promise<{ host: ChildProcess; url: string }> {
  const host = spawn(process.execPath, [join(__dirname, '../../dist/scripts/start.js')], {
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return new Promise((resolve, reject) => {
    let output = '';
    const timer = setTimeout(() => reject(new Error(`the local host did not start:\n${output}`)), 20000);
    const onData = (chunk: Buffer): void => {
      output += chunk.toString();
      const match = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(output);
      if (match) {
        clearTimeout(timer);
        host.stdout!.off('data', onData);
        host.stdout!.resume();
        resolve({ host, url: match[1]! });
      }
    };
    host.stdout!.on('data', onData);
    // The host's log goes to a file-less sink: tests that need it start their own host.
    host.stderr!.resume();
    host.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`the local host exited with ${code}:\n${output}`));
    });
  });
}

export default async function globalSetup(): Promise<void> {
  const azurite = await startAzuriteTables({ port: 0, inMemory: true, silent: true });
  const stateDir = await mkdtemp(join(tmpdir(), 'escrow-test-'));
  Object.assign(process.env, {
    STORAGE_CONNECTION_STRING: azurite.connectionString,
    AUTH_MODE: 'local',
    LOCAL_STATE_DIR: stateDir,
  });
  const { host, url } = await startLocalHost({ ...process.env, PORT: '0' });
  process.env.ESCROW_TEST_URL = url;
  globalThis.__escrowServices = { stopAzurite: azurite.stop, host };
}
