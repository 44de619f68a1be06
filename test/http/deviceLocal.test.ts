import { expect } from '@jest/globals';
import { execFile } from 'node:child_process';
import { mkdtemp, readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { startLocalHost, stopLocalHosts, type LocalHost } from '../../scripts/localHost';
import { recoveryPassword } from '../support/fixtures';

// The local walkthrough (docs/devices.md): a host with DEVICE_AUTH=local, then
// `npm run device -- register` and `npm run device -- escrow` as the compiled CLI, in a state folder of their own.

const run = promisify(execFile);
const CLI = join(__dirname, '../../dist/scripts/device-client.js');

let host: LocalHost;
let stateDir: string;

const device = (...args: string[]) => run(process.execPath, [CLI, ...args], { env: { ...process.env, LOCAL_STATE_DIR: stateDir } });

beforeAll(async () => {
  stateDir = await mkdtemp(join(tmpdir(), 'escrow-device-'));
  host = await startLocalHost({ DEVICE_AUTH: 'local', LOCAL_STATE_DIR: stateDir });
}, 60_000);

afterAll(() => stopLocalHosts());

it('register records a device in the local directory; escrow stores a key for it and prints no password', async () => {
  const registered = await device('register');
  const deviceId = /Registered device ([0-9a-f-]{36})/.exec(registered.stdout)?.[1];
  expect(deviceId).toBeDefined();
  expect(await readdir(join(stateDir, 'devices'))).toEqual([`${deviceId}.json`]);

  const first = await device('escrow', '--url', host.url);
  expect(first.stdout).toMatch(
    new RegExp(`^Escrowed key [0-9a-f-]{36} for device ${deviceId}; the service now lists 1 key\\(s\\) for it\\.\\n$`),
  );
  const second = await device('escrow', '--url', host.url);
  expect(second.stdout).toMatch(/now lists 2 key\(s\)/);
  // Nothing shaped like a recovery password on either output.
  const password = new RegExp(recoveryPassword().replace(/\d/g, '\\d'));
  expect(`${first.stdout}${first.stderr}${second.stdout}${second.stderr}`).not.toMatch(password);
});

it('escrow without a registered device says to register first', async () => {
  const empty = await mkdtemp(join(tmpdir(), 'escrow-device-none-'));
  await expect(
    run(process.execPath, [CLI, 'escrow', '--url', host.url], { env: { ...process.env, LOCAL_STATE_DIR: empty } }),
  ).rejects.toMatchObject({
    stderr: expect.stringContaining('npm run device -- register'),
  });
});
