import { generateKeyPairSync, randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { PROOF_REFUSED } from '../../shared/auth/device/authenticate';
import { deviceAuthorization, proofTimestamp, type DeviceCredentials } from '../../shared/auth/device/signer';
import { selfSignedCertificate } from '../../scripts/cli/device/selfSignedCertificate';
import { COLLECTION_PATH, DeviceClient } from '../../scripts/cli/device/client';
import { AUDIT_READ, auditsOf, detailOf, keySpellings, secretsIn } from '../support/audit';
import { call, callOn, expectGraphError, READ, READ_BASIC, token, tokenWith, WRITE, type ApiResponse } from '../support/client';
import { recoveryPassword } from '../support/fixtures';
import { startGraphStandIn, type GraphStandIn } from '../support/graphStandIn';
import { startLocalHost, stopLocalHosts, type LocalHost } from '../../scripts/devhost/localHost';
import { GRAPH_RESOURCE, startManagedIdentityStandIn, type ManagedIdentityStandIn } from '../support/managedIdentity';
import { keyRowsOf } from '../support/storage';

// Devices escrowing their own keys over HTTP, end to end: two private hosts with DEVICE_AUTH=entra
// sharing the run's Azurite (and so its nonce table), the real DefaultAzureCredential against a
// stand-in managed-identity endpoint, and a stand-in Graph that lists devices as Entra ID does.

interface TestDevice extends DeviceCredentials {
  deviceId: string;
  client(host?: LocalHost): DeviceClient;
}

let identity: ManagedIdentityStandIn;
let graph: GraphStandIn;
let hostA: LocalHost;
let hostB: LocalHost;

/** A device with its own key and certificate; registered (enabled) in the stand-in Graph unless told otherwise. */
function newDevice(register = true): TestDevice {
  const deviceId = randomUUID();
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const certificate = selfSignedCertificate(privateKey, deviceId);
  if (register) graph.devices.set(deviceId, { deviceId, accountEnabled: true, certificates: [certificate] });
  const device: TestDevice = { deviceId, certificate, privateKey, client: (host = hostA) => new DeviceClient(host.url, device) };
  return device;
}

const escrowBody = (device: { deviceId: string }, overrides: Record<string, unknown> = {}) => ({
  id: randomUUID(),
  deviceId: device.deviceId,
  volumeType: 'operatingSystemVolume',
  key: recoveryPassword(),
  ...overrides,
});

/** A request signed by `signer` for `signed`, but sent as `sent` (to alter what was signed). */
async function sendSigned(
  signer: DeviceCredentials,
  signed: { method: string; path: string; body?: string; ts?: string; nonce?: string },
  sent: { method?: string; path?: string; body?: string; host?: LocalHost } = {},
): Promise<ApiResponse> {
  const signedUrl = new URL(signed.path, hostA.url);
  const authorization = deviceAuthorization(signer, {
    method: signed.method,
    pathAndQuery: `${signedUrl.pathname}${signedUrl.search}`,
    body: signed.body === undefined ? undefined : Buffer.from(signed.body),
    ts: signed.ts,
    nonce: signed.nonce,
  });
  const body = sent.body ?? signed.body;
  return callOn((sent.host ?? hostA).url, sent.method ?? signed.method, sent.path ?? signed.path, {
    rawBody: body,
    headers: { Authorization: authorization, ...(body === undefined ? {} : { 'Content-Type': 'application/json' }) },
  });
}

/** Every line the hosts printed, for what the service logs and never answers. */
const hostLogs: string[] = [];

/**
 * A 401 of the device scheme with the one text of every failed check, never the certificate; the
 * host's log names the check (`says`) under the request's id.
 */
async function expectProofRefused(response: ApiResponse, device: DeviceCredentials, says: RegExp): Promise<void> {
  const error = expectGraphError(response, 401, 'InvalidAuthenticationToken');
  expect(response.headers.get('www-authenticate')).toBe('EntraDevice');
  expect(error.message).toBe(PROOF_REFUSED);
  expect(response.text).not.toContain(device.certificate.toString('base64').slice(0, 64));
  const requestId = response.headers.get('request-id')!;
  const logged = () => hostLogs.filter((line) => line.includes(requestId) && line.includes('deviceProofRefused')).join('\n');
  // The host's output reaches this process through a pipe, shortly after its answer.
  for (let waited = 0; waited < 5_000 && logged() === ''; waited += 50) await sleep(50);
  expect(logged()).toMatch(says);
}

beforeAll(async () => {
  identity = await startManagedIdentityStandIn();
  graph = await startGraphStandIn(await identity.tokenFor(GRAPH_RESOURCE));
  const env = { DEVICE_AUTH: 'entra', GRAPH_BASE_URL: graph.url, IDENTITY_ENDPOINT: identity.endpoint, IDENTITY_HEADER: identity.header };
  const options = { onLine: (line: string) => void hostLogs.push(line) };
  [hostA, hostB] = await Promise.all([startLocalHost(env, options), startLocalHost(env, options)]);
}, 60_000);

afterAll(async () => {
  await stopLocalHosts();
  await Promise.all([graph?.close(), identity?.close()]);
});

describe('a device with a valid proof', () => {
  it('escrows its key and lists its own keys, metadata only; the token came from the managed identity', async () => {
    const device = newDevice();
    const body = escrowBody(device);
    const written = await device.client().escrow(body);
    expect(written.status).toBe(200);
    expect(written.json).toMatchObject({ id: body.id, deviceId: device.deviceId, volumeType: 'operatingSystemVolume' });

    const listed = await device.client().listOwnKeys(device.deviceId);
    expect(listed.status).toBe(200);
    expect(listed.keys.map((key) => key.id)).toEqual([body.id]);
    expect(secretsIn(JSON.stringify(listed.response.json), keySpellings(body.key))).toEqual([]);

    expect(identity.requests.length).toBeGreaterThanOrEqual(1);
    expect(new Set(identity.requests.map((r) => r.resource))).toEqual(new Set([GRAPH_RESOURCE]));
  });

  it('POSTs a key and may re-send the same PATCH (Windows escrows on every run)', async () => {
    const device = newDevice();
    const body = escrowBody(device, { volumeType: 'fixedDataVolume' });
    const created = await device.client().send('POST', COLLECTION_PATH, body);
    expect(created.status).toBe(201);
    expect((await device.client().escrow(body)).status).toBe(200);
  });

  it('is named in the audit trail by deviceId and certificate thumbprint, with no user and no app', async () => {
    const device = newDevice();
    const body = escrowBody(device);
    expect((await device.client().escrow(body)).status).toBe(200);
    const [event] = await auditsOf(body.id, await token({ roles: [AUDIT_READ] }));
    expect(event).toMatchObject({ activityDisplayName: 'Add BitLocker key', result: 'success', initiatedBy: { user: null, app: null } });
    expect(detailOf(event, 'InitiatedByDeviceId')).toBe(device.deviceId);
    expect(detailOf(event, 'DeviceCertificateThumbprint')).toMatch(/^[0-9A-F]{40}$/);
  });
});

describe('each failed check is a 401 that names it', () => {
  const path = `${COLLECTION_PATH}`;

  it('a timestamp more than 5 minutes old or ahead', async () => {
    const device = newDevice();
    const body = JSON.stringify(escrowBody(device));
    const stale = await sendSigned(device, { method: 'PATCH', path, body, ts: proofTimestamp(new Date(Date.now() - 6 * 60_000)) });
    await expectProofRefused(stale, device, /ts is older/);
    const future = await sendSigned(device, { method: 'PATCH', path, body, ts: proofTimestamp(new Date(Date.now() + 6 * 60_000)) });
    await expectProofRefused(future, device, /ts is later/);
  });

  it('a replayed request, on the same instance and on another one sharing the nonce table', async () => {
    const device = newDevice();
    const body = JSON.stringify(escrowBody(device));
    const nonce = randomUUID().replace(/-/g, '');
    const ts = proofTimestamp();
    expect((await sendSigned(device, { method: 'PATCH', path, body, ts, nonce })).status).toBe(200);
    await expectProofRefused(await sendSigned(device, { method: 'PATCH', path, body, ts, nonce }), device, /nonce was already used/);
    await expectProofRefused(
      await sendSigned(device, { method: 'PATCH', path, body, ts, nonce }, { host: hostB }),
      device,
      /nonce was already used/,
    );
  });

  it('the same nonce reaching two instances at once is taken by exactly one', async () => {
    const device = newDevice();
    const body = JSON.stringify(escrowBody(device));
    const signed = { method: 'PATCH', path, body, ts: proofTimestamp(), nonce: randomUUID().replace(/-/g, '') };
    const answers = await Promise.all([sendSigned(device, signed), sendSigned(device, signed, { host: hostB })]);
    expect(answers.map((a) => a.status).sort()).toEqual([200, 401]);
  });

  it('an altered body, path or method', async () => {
    const device = newDevice();
    const body = escrowBody(device);
    const signed = { method: 'PATCH', path, body: JSON.stringify(body) };
    const other = JSON.stringify({ ...body, volumeType: 'fixedDataVolume' });
    await expectProofRefused(await sendSigned(device, signed, { body: other }), device, /signature does not verify/);
    await expectProofRefused(await sendSigned(device, signed, { path: `${path}/${body.id}` }), device, /signature does not verify/);
    await expectProofRefused(await sendSigned(device, signed, { method: 'POST' }), device, /signature does not verify/);
    expect(await keyRowsOf(body.id)).toEqual({ records: [], index: [] });
  });

  it("a signature by another key than the certificate's", async () => {
    const device = newDevice();
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const forged = { certificate: device.certificate, privateKey };
    await expectProofRefused(await sendSigned(forged, { method: 'GET', path }), device, /signature does not verify/);
  });

  it('a certificate whose hash is not on the device, a disabled device and an unknown device', async () => {
    const device = newDevice();
    // Same deviceId, a certificate of its own: the directory lists only the genuine one.
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const impostor = { certificate: selfSignedCertificate(privateKey, device.deviceId), privateKey };
    await expectProofRefused(await sendSigned(impostor, { method: 'GET', path }), impostor, /certificate is not one that device/);

    const disabled = newDevice();
    graph.devices.get(disabled.deviceId)!.accountEnabled = false;
    await expectProofRefused(await sendSigned(disabled, { method: 'GET', path }), disabled, /is disabled/);

    const unknown = newDevice(false);
    await expectProofRefused(await sendSigned(unknown, { method: 'GET', path }), unknown, /No device .* is registered/);
  });

  it('a device scheme the service does not parse', async () => {
    const response = await callOn(hostA.url, 'GET', path, { headers: { Authorization: 'EntraDevice cert="AAAA"' } });
    expect(expectGraphError(response, 401, 'InvalidAuthenticationToken').message).toMatch(/lacks ts, nonce, sig/);
    expect(response.headers.get('www-authenticate')).toBe('EntraDevice');
  });
});

describe('strangers flooding the device path', () => {
  it('spend at most DEVICE_DIRECTORY_LOOKUPS_PER_MINUTE Graph lookups while a known device is served throughout', async () => {
    const budget = 20;
    const host = await startLocalHost({
      DEVICE_AUTH: 'entra',
      GRAPH_BASE_URL: graph.url,
      IDENTITY_ENDPOINT: identity.endpoint,
      IDENTITY_HEADER: identity.header,
      DEVICE_DIRECTORY_LOOKUPS_PER_MINUTE: String(budget),
    });
    const real = newDevice();
    expect((await real.client(host).escrow(escrowBody(real))).status).toBe(200);

    // Each stranger: a self-signed certificate naming a fresh random device id, and a valid signature.
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const strangers = Array.from({ length: 100 }, () => {
      const deviceId = randomUUID();
      return { deviceId, certificate: selfSignedCertificate(privateKey, deviceId), privateKey };
    });
    const strangerAnswers: ApiResponse[] = [];
    const flood = (async () => {
      for (let i = 0; i < strangers.length; i += 10) {
        const batch = strangers
          .slice(i, i + 10)
          .map((stranger) => sendSigned(stranger, { method: 'GET', path: COLLECTION_PATH }, { host }));
        strangerAnswers.push(...(await Promise.all(batch)));
      }
    })();
    const realAnswers: number[] = [];
    const served = (async () => {
      for (let i = 0; i < 10; i++) realAnswers.push((await real.client(host).escrow(escrowBody(real))).status);
    })();
    await Promise.all([flood, served]);

    expect(realAnswers).toEqual(Array.from({ length: 10 }, () => 200));
    const strangerIds = new Set<string>(strangers.map((stranger) => stranger.deviceId));
    const strangerLookups = graph.lookups.filter((id) => strangerIds.has(id)).length;
    // One budget per clock minute: a flood that straddles a minute's end may spend two.
    expect(strangerLookups).toBeGreaterThan(0);
    expect(strangerLookups).toBeLessThanOrEqual(2 * budget);
    const statuses = new Set(strangerAnswers.map((answer) => answer.status));
    expect([...statuses].sort()).toEqual([401, 503]);
    for (const answer of strangerAnswers.filter((a) => a.status === 401))
      expect(answer.json.error).toMatchObject({ message: PROOF_REFUSED });
    for (const answer of strangerAnswers.filter((a) => a.status === 503))
      expect(Number(answer.headers.get('retry-after'))).toBeGreaterThan(0);
  }, 120_000);
});

describe('Graph unreachable', () => {
  it('is a 503 with Retry-After, never a pass; the device gets through once Graph is back', async () => {
    const device = newDevice();
    graph.down = true;
    try {
      const response = await sendSigned(device, {
        method: 'GET',
        path: `${COLLECTION_PATH}?$filter=${encodeURIComponent(`deviceId eq '${device.deviceId}'`)}`,
      });
      expect(expectGraphError(response, 503, 'serviceNotAvailable').message).toMatch(/device directory/);
      expect(Number(response.headers.get('retry-after'))).toBeGreaterThan(0);
    } finally {
      graph.down = false;
    }
    expect((await device.client().listOwnKeys(device.deviceId)).status).toBe(200);
  });
});

describe('what a device may not do', () => {
  it("escrowing another device's key id stores the device's own claim beside it: never replaced, blocked or hidden", async () => {
    // The squat: B escrows the id that A will use, with a password of its own, before A does.
    const victim = newDevice();
    const squatter = newDevice();
    const real = escrowBody(victim);
    const planted = { ...real, deviceId: squatter.deviceId, key: recoveryPassword() };
    expect((await squatter.client().escrow(planted)).status).toBe(200);
    const squatterRecord = (await keyRowsOf(real.id)).records;

    // A's own escrow of its key is stored (it was a 403), and the squatter's record is left as it was.
    const escrowed = await victim.client().escrow(real);
    expect(escrowed.status).toBe(200);
    expect(escrowed.json).toMatchObject({ id: real.id, deviceId: victim.deviceId });
    expect((await keyRowsOf(real.id)).records).toEqual(squatterRecord);
    expect((await victim.client().escrow(real)).status).toBe(200); // its re-sends are the same no-op as ever
    const post = await victim.client().send('POST', COLLECTION_PATH, real);
    expect(expectGraphError(post, 409, 'conflict').message).toMatch(/already exists/);

    // The helpdesk's search shows each candidate with its device; each device lists its own.
    const basic = await tokenWith(READ_BASIC);
    const search = await call('GET', `${COLLECTION_PATH}?$filter=${encodeURIComponent(`startswith(id,'${real.id.slice(0, 8)}')`)}`, {
      token: basic,
    });
    const candidates = (search.json.value as { id: string; deviceId: string }[]).filter((key) => key.id === real.id);
    expect(candidates.map((key) => key.deviceId).sort()).toEqual([squatter.deviceId, victim.deviceId].sort());
    const byId = await call('GET', `${COLLECTION_PATH}?$filter=${encodeURIComponent(`id eq '${real.id}'`)}`, { token: basic });
    expect((byId.json.value as { deviceId: string }[]).map((key) => key.deviceId).sort()).toEqual(
      candidates.map((key) => key.deviceId).sort(),
    );
    expect((await victim.client().listOwnKeys(victim.deviceId)).keys.map((key) => key.id)).toEqual([real.id]);
    expect((await squatter.client().listOwnKeys(squatter.deviceId)).keys.map((key) => key.id)).toEqual([real.id]);

    // A key read must name the device: the service never picks one of two passwords for the helpdesk.
    const reader = await tokenWith(READ);
    const unnamed = await call('GET', `${COLLECTION_PATH}/${real.id}?$select=key`, { token: reader });
    expect(expectGraphError(unnamed, 409, 'conflict').message).toMatch(new RegExp(`held by 2 devices.*${victim.deviceId}`));
    expect(secretsIn(unnamed.text, [...keySpellings(real.key), ...keySpellings(planted.key)])).toEqual([]);
    const readOf = (device: TestDevice) =>
      call('GET', `${COLLECTION_PATH}/${real.id}?$select=key,deviceId&deviceId=${device.deviceId}`, { token: reader });
    expect((await readOf(victim)).json).toMatchObject({ deviceId: victim.deviceId, key: real.key });
    expect((await readOf(squatter)).json).toMatchObject({ deviceId: squatter.deviceId, key: planted.key });

    // A writer cannot fold the record onto the victim's claim (it would hide one of them).
    const move = await call('PATCH', `${COLLECTION_PATH}/${real.id}`, {
      token: await tokenWith(WRITE),
      body: { deviceId: victim.deviceId },
    });
    expect(expectGraphError(move, 409, 'conflict').message).toMatch(/holds its own claim/);

    // The collision is a security event in the trail, naming both devices.
    const events = await auditsOf(real.id, await token({ roles: [AUDIT_READ] }));
    const claims = events.filter((event) => event.activityDisplayName === 'Claim BitLocker key id held by another device');
    expect(claims).toHaveLength(1);
    expect(detailOf(claims[0], 'InitiatedByDeviceId')).toBe(victim.deviceId);
    expect(claims[0].resultReason).toMatch(
      new RegExp(`^Security: .*held by device ${squatter.deviceId}, with a different recovery password`),
    );
  });

  it("a new key under another device's deviceId: 403, audited, nothing stored", async () => {
    const owner = newDevice();
    const intruder = newDevice();
    const foreign = escrowBody(owner);
    const named = await intruder.client().escrow(foreign);
    expect(expectGraphError(named, 403, 'authorization_error').message).toMatch(/only under its own deviceId/);
    expect(await keyRowsOf(foreign.id)).toEqual({ records: [], index: [] });
    const refusals = (await auditsOf(foreign.id, await token({ roles: [AUDIT_READ] }))).filter((event) => event.result === 'failure');
    expect(refusals.map((event) => [detailOf(event, 'InitiatedByDeviceId'), event.resultReason.slice(0, 24)])).toEqual([
      [intruder.deviceId, '403 authorization_error:'],
    ]);
  });

  it('reading a key or its metadata, deleting its own key, or listing another device or every key: 403', async () => {
    const device = newDevice();
    const other = newDevice();
    const body = escrowBody(device);
    expect((await device.client().escrow(body)).status).toBe(200);
    const client = device.client();
    const item = `${COLLECTION_PATH}/${body.id}`;
    for (const [method, path] of [
      ['GET', `${item}?$select=key`],
      ['GET', item],
      ['DELETE', item],
      ['GET', `${COLLECTION_PATH}?$filter=${encodeURIComponent(`deviceId eq '${other.deviceId}'`)}`],
      ['GET', COLLECTION_PATH],
      ['GET', '/v1.0/auditLogs/directoryAudits'],
    ] as const) {
      const response = await client.send(method, path);
      expectGraphError(response, 403, 'authorization_error');
      expect(secretsIn(JSON.stringify(response.json), keySpellings(body.key))).toEqual([]);
    }
    // Still there: the DELETE did nothing.
    expect((await keyRowsOf(body.id)).records).toHaveLength(1);
  });
});

describe('with DEVICE_AUTH off (the default)', () => {
  it('an EntraDevice request is a 401 that says device authentication is not enabled', async () => {
    const device = newDevice();
    const url = new URL(COLLECTION_PATH, process.env.ESCROW_TEST_URL);
    const authorization = deviceAuthorization(device, { method: 'GET', pathAndQuery: url.pathname });
    const response = await call('GET', COLLECTION_PATH, { headers: { Authorization: authorization } });
    expect(expectGraphError(response, 401, 'InvalidAuthenticationToken').message).toMatch(/not enabled/);
    expect(graph.lookups).not.toContain(device.deviceId);
  });

  it('bearer tokens work as before', async () => {
    const response = await call('GET', COLLECTION_PATH, { token: await token({ roles: [WRITE] }) });
    expect(response.status).toBe(200);
  });
});
