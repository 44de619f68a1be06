import { expect } from '@jest/globals';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deviceAuthorization } from '../../shared/auth/device/signer';
import { PROOF_REFUSED } from '../../shared/auth/device/authenticate';
import { COLLECTION_PATH } from '../../scripts/cli/device/client';
import { registerDevice, type LocalDevice } from '../../scripts/cli/device/identity';
import { startLocalHost, stopLocalHosts, type LocalHost } from '../../scripts/devhost/localHost';
import { callOn, type ApiResponse } from '../support/client';

// What a device signs and what reaches the host may differ in two ways the proof must survive: the
// request line re-escaped on the way (Windows PowerShell 5.1 sends the list query's quotes raw; the
// host's WHATWG URL turns them into %27), and a path prefix a proxy strips (PUBLIC_BASE_URL with a path).

let host: LocalHost;
let device: LocalDevice;

beforeAll(async () => {
  const stateDir = await mkdtemp(join(tmpdir(), 'escrow-device-target-'));
  device = await registerDevice(stateDir);
  host = await startLocalHost({ DEVICE_AUTH: 'local', LOCAL_STATE_DIR: stateDir, PUBLIC_BASE_URL: 'http://127.0.0.1:9/escrow' });
}, 60_000);

afterAll(() => stopLocalHosts());

/** GET `sent` on the host, signed over `signed`. */
const listSignedOver = (signed: string, sent: string): Promise<ApiResponse> =>
  callOn(host.url, 'GET', sent, { headers: { Authorization: deviceAuthorization(device, { method: 'GET', pathAndQuery: signed }) } });

const rawQuotes = (): string => `${COLLECTION_PATH}?$filter=deviceId%20eq%20'${device.deviceId}'`;

it('a list signed with raw quotes verifies, though the host sees %27', async () => {
  const response = await listSignedOver(rawQuotes(), rawQuotes());
  expect(response.status).toBe(200);
  expect(response.json).toMatchObject({ value: [] });
});

it('a list signed over PUBLIC_BASE_URL’s path verifies when a proxy stripped it, and over another path does not', async () => {
  const stripped = await listSignedOver(`/escrow${rawQuotes()}`, rawQuotes());
  expect(stripped.status).toBe(200);
  expect(stripped.json).toMatchObject({ value: [] });
  const other = await listSignedOver(`/other${rawQuotes()}`, rawQuotes());
  expect(other.status).toBe(401);
  expect(other.json).toMatchObject({
    error: { code: 'InvalidAuthenticationToken', message: PROOF_REFUSED },
  });
});
