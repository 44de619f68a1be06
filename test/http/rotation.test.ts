import { expect } from '@jest/globals';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { mintDevelopmentToken } from '../../shared/auth/developmentToken';
import { deviceAuthorization } from '../../shared/auth/device/signer';
import { DeviceClient } from '../../scripts/cli/device/client';
import { registerDevice, type LocalDevice } from '../../scripts/cli/device/identity';
import { startLocalHost, stopLocalHosts, type LocalHost } from '../../scripts/devhost/localHost';
import { AUDIT_READ, auditsOf, keySpellings, secretsIn } from '../support/audit';
import { type ApiResponse, callOn, expectAnsweredAsAbsent, expectGraphError, READ, READ_BASIC, tokenWith, WRITE } from '../support/client';
import { startCountingProxy, type CountingProxy } from '../support/countingProxy';
import { keyBody, newId, recoveryPassword } from '../support/fixtures';
import { COLLECTION, item } from '../support/keys';

// Single-use keys over HTTP (docs/api.md "Single-use keys"): a reveal marks the key disclosed, the device
// escrows a successor naming it (@escrow.replaces), the old key is retired and then deleted by its device.
// A private host with DEVICE_AUTH=local and a state folder of its own (its own development signing key:
// tokens are minted from it), on the run's Azurite.

jest.setTimeout(60_000);

const DELETED = '/v1.0/directory/deletedItems';
const DELETED_KEYS = `${DELETED}/microsoft.graph.bitlockerRecoveryKey`;
const DATE_TIME = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/;

let host: LocalHost;
let stateDir: string;
let writer: string;
let reader: string;
let basic: string;
let auditor: string;

const api = (method: string, path: string, token: string, body?: unknown, headers?: Record<string, string>): Promise<ApiResponse> =>
  callOn(host.url, method, path, { token, body, headers });

interface Device extends LocalDevice {
  client: DeviceClient;
}

async function newDevice(): Promise<Device> {
  // registerDevice saves its identity file in the folder it is given: one folder per device, one shared directory.
  const device = await registerDevice(stateDir);
  return { ...device, client: new DeviceClient(host.url, device) };
}

const escrowBody = (device: { deviceId: string }, more: Record<string, unknown> = {}) =>
  keyBody({ id: newId(), deviceId: device.deviceId, volumeType: 'operatingSystemVolume', key: recoveryPassword(), ...more });

/** Escrows a key for `device` (as the device) and reveals it once (as a helpdesk reader): the key disclosed. */
async function disclosedKey(device: Device): Promise<{ id: string; key: string; revealed: ApiResponse }> {
  const body = escrowBody(device);
  expect((await device.client.escrow(body as { id: string; deviceId: string; volumeType: string; key: string })).status).toBe(200);
  const revealed = await api('GET', `${item(body.id!)}?$select=id,key`, reader);
  expect(revealed.status).toBe(200);
  return { id: body.id!, key: body.key!, revealed };
}

const deviceList = async (device: Device): Promise<Record<string, unknown>[]> => {
  const listed = await device.client.listOwnKeys(device.deviceId);
  expect(listed.status).toBe(200);
  return listed.keys as unknown as Record<string, unknown>[];
};

beforeAll(async () => {
  stateDir = await mkdtemp(join(tmpdir(), 'escrow-rotation-'));
  host = await startLocalHost({ DEVICE_AUTH: 'local', LOCAL_STATE_DIR: stateDir });
  const mint = (roles: string[], upn?: string) => mintDevelopmentToken(stateDir, { roles, ...(upn && { claims: { upn } }) });
  // The audit trail is read through the run's host (same Azurite), with a token of its own signing key.
  [writer, reader, basic, auditor] = await Promise.all([
    mint([WRITE]),
    mint([READ], 'agent@contoso.example'),
    mint([READ_BASIC]),
    tokenWith(AUDIT_READ),
  ]);
}, 60_000);

afterAll(async () => {
  await stopLocalHosts();
  await proxy?.close();
}, 30_000);

// A second host on the same state folder whose storage goes through a proxy that, when told, lets a
// request's first storage transactions through and then holds every later call (a storage that stops
// answering): the request ends in a 503 within its storage budget.
let proxy: CountingProxy | undefined;
let batchesBeforeHang: number | undefined;
let batchesSeen = 0;

/** One signed device request, never retried (the device client retries a 503, which would hang again here). */
function sendOnce(base: string, device: LocalDevice, method: string, path: string, body: unknown): Promise<ApiResponse> {
  const bytes = Buffer.from(JSON.stringify(body));
  const url = new URL(path, base);
  const authorization = deviceAuthorization(device, { method, pathAndQuery: `${url.pathname}${url.search}`, body: bytes });
  return callOn(base, method, path, {
    rawBody: bytes.toString(),
    headers: { Authorization: authorization, 'Content-Type': 'application/json' },
  });
}

async function faultyHost(): Promise<LocalHost> {
  proxy = await startCountingProxy(undefined, 0, (request) => {
    if (batchesBeforeHang === undefined) return false;
    if (batchesSeen >= batchesBeforeHang) return true;
    if (request.table === '$batch') batchesSeen++;
    return false;
  });
  return startLocalHost({ DEVICE_AUTH: 'local', LOCAL_STATE_DIR: stateDir, STORAGE_CONNECTION_STRING: proxy.connectionString });
}

describe('a reveal', () => {
  it('marks the key disclosed with when and who, on its own audit record; a second reveal does not move the mark', async () => {
    const device = await newDevice();
    const { id, key, revealed } = await disclosedKey(device);
    expect(revealed.json).toEqual({
      '@odata.context': expect.stringMatching(/recoveryKeys\(id,key\)\/\$entity$/),
      '@odata.etag': expect.any(String),
      '@odata.type': '#microsoft.graph.bitlockerRecoveryKey',
      '@escrow.disclosedDateTime': expect.stringMatching(DATE_TIME),
      '@escrow.disclosedBy': 'agent@contoso.example',
      id,
      key,
    });
    const first = revealed.json['@escrow.disclosedDateTime'];

    const again = await api('GET', `${item(id)}?$select=key`, reader);
    expect(again.json).toEqual(expect.objectContaining({ '@escrow.disclosedDateTime': first, key }));

    const reads = (await auditsOf(id, auditor)).filter((event) => event.activityDisplayName === 'Read BitLocker key');
    expect(reads.map((event) => event.resultReason).sort()).toEqual([
      '',
      `Disclosed: the first reveal of key ${id}; rotation required (ROTATE_AFTER_REVEAL).`,
    ]);
  });

  it('is shown on GET of one key, a collection list and the device list, $select or not; never to a device who read it', async () => {
    const device = await newDevice();
    const { id, revealed } = await disclosedKey(device);
    const disclosedAt = revealed.json['@escrow.disclosedDateTime'];

    const one = await api('GET', `${item(id)}?$select=deviceId`, basic);
    expect(one.json).toEqual({
      '@odata.context': expect.stringMatching(/recoveryKeys\(deviceId\)\/\$entity$/),
      '@odata.etag': expect.any(String),
      '@odata.type': '#microsoft.graph.bitlockerRecoveryKey',
      '@escrow.disclosedDateTime': disclosedAt,
      '@escrow.disclosedBy': 'agent@contoso.example',
      deviceId: device.deviceId,
    });
    const byId = await api('GET', `${COLLECTION}?$filter=id eq '${id}'`, basic);
    expect(byId.json.value).toEqual([expect.objectContaining({ id, '@escrow.disclosedDateTime': disclosedAt })]);
    const byDevice = await api('GET', `${COLLECTION}?$filter=deviceId eq '${device.deviceId}'`, basic);
    expect(byDevice.json.value).toEqual([expect.objectContaining({ id, '@escrow.disclosedDateTime': disclosedAt })]);

    const own = await deviceList(device);
    expect(own).toEqual([
      {
        '@odata.type': '#microsoft.graph.bitlockerRecoveryKey',
        '@escrow.disclosedDateTime': disclosedAt,
        id,
        createdDateTime: expect.stringMatching(DATE_TIME),
        volumeType: 'operatingSystemVolume',
        deviceId: device.deviceId,
      },
    ]);
  });
});

describe('a successor', () => {
  it('walks the whole loop: reveal, successor escrowed, old key retired, deleted by its device, restorable', async () => {
    const device = await newDevice();
    const old = await disclosedKey(device);
    const successor = escrowBody(device, { '@escrow.replaces': old.id });

    const escrowed = await device.client.send('PATCH', COLLECTION, successor);
    expect({ status: escrowed.status, body: escrowed.json }).toEqual({
      status: 200,
      body: {
        '@odata.context': expect.stringMatching(/recoveryKeys\/\$entity$/),
        '@odata.etag': expect.any(String),
        '@odata.type': '#microsoft.graph.bitlockerRecoveryKey',
        id: successor.id,
        createdDateTime: expect.stringMatching(DATE_TIME),
        volumeType: 'operatingSystemVolume',
        deviceId: device.deviceId,
        key: successor.key,
      },
    });

    const retired = await api('GET', item(old.id), basic);
    expect(retired.json).toEqual(
      expect.objectContaining({
        '@escrow.disclosedDateTime': old.revealed.json['@escrow.disclosedDateTime'],
        '@escrow.supersededBy': successor.id,
        '@escrow.supersededDateTime': expect.stringMatching(DATE_TIME),
      }),
    );
    const own = await deviceList(device);
    expect(own.map((key) => [key.id, key['@escrow.supersededBy'] ?? null]).sort()).toEqual(
      [
        [old.id, successor.id],
        [successor.id, null],
      ].sort(),
    );

    const audits = await auditsOf(old.id, auditor);
    expect(audits.filter((event) => event.activityDisplayName === 'Retire BitLocker key').map((event) => event.resultReason)).toEqual([
      `Superseded by key ${successor.id}: key ${old.id} is retired, its successor escrowed.`,
    ]);
    const successorAudits = await auditsOf(successor.id!, auditor);
    expect(successorAudits.filter((event) => event.activityDisplayName === 'Add BitLocker key').map((event) => event.resultReason)).toEqual(
      [`Successor escrowed: replaces key ${old.id} (@escrow.replaces).`],
    );

    const deleted = await device.client.send('DELETE', item(old.id));
    expect({ status: deleted.status, text: deleted.text }).toEqual({ status: 204, text: '' });
    const inBin = await api('GET', `${DELETED}/${old.id}`, basic);
    expect(inBin.json).toEqual(
      expect.objectContaining({
        id: old.id,
        deletedDateTime: expect.stringMatching(DATE_TIME),
        '@escrow.disclosedDateTime': old.revealed.json['@escrow.disclosedDateTime'],
        '@escrow.supersededBy': successor.id,
      }),
    );
    const binList = await api('GET', `${DELETED_KEYS}?$top=999`, basic);
    expect(binList.json.value).toContainEqual(expect.objectContaining({ id: old.id, '@escrow.supersededBy': successor.id }));
    expect((await deviceList(device)).map((key) => key.id)).toEqual([successor.id]);

    // An old disk image may still need it: a writer restores it, password intact.
    expect((await api('POST', `${DELETED}/${old.id}/restore`, writer)).status).toBe(200);
    const readBack = await api('GET', `${item(old.id)}?$select=key`, reader);
    expect(readBack.json.key).toBe(old.key);
    expect(secretsIn(JSON.stringify(own), keySpellings(old.key))).toEqual([]);
  });

  it('is refused for a key that does not exist (404), another device’s key (as if absent) or a deleted one (409), and stores nothing', async () => {
    const device = await newDevice();
    const other = await newDevice();
    const othersKey = await disclosedKey(other);
    // Another device's key is answered as a missing one; the trail records the real refusal.
    const missing = newId();
    const [foreign, absent] = [
      escrowBody(device, { '@escrow.replaces': othersKey.id }),
      escrowBody(device, { '@escrow.replaces': missing }),
    ];
    const hidden = await device.client.send('PATCH', COLLECTION, foreign);
    expectAnsweredAsAbsent(hidden, await device.client.send('PATCH', COLLECTION, absent), { hidden: othersKey.id, absent: missing });
    expect(hidden.json.error?.message).toBe(`Recovery key ${othersKey.id} (named by @escrow.replaces) was not found.`);
    const record = (await auditsOf(foreign.id!, auditor)).find((event) => event.correlationId === hidden.headers.get('request-id'));
    expect(record?.result).toBe('failure');
    expect(record?.resultReason).toBe(
      `403 authorization_error: Recovery key ${othersKey.id} belongs to another device; a device may replace only its own keys.`,
    );
    for (const body of [foreign, absent]) expect((await api('GET', item(body.id!), basic)).status).toBe(404);
    const cases: [string, number, string, RegExp][] = [];
    const gone = await disclosedKey(device);
    expect((await api('DELETE', item(gone.id), writer)).status).toBe(204);
    cases.push([gone.id, 409, 'conflict', /is deleted/]);
    for (const [replaces, status, code, says] of cases) {
      const body = escrowBody(device, { '@escrow.replaces': replaces });
      const refused = await device.client.send('PATCH', COLLECTION, body);
      expect(expectGraphError(refused, status, code).message).toMatch(says);
      expect((await api('GET', item(body.id!), basic)).status).toBe(404);
    }
    // The other device's key is as it was.
    expect((await api('GET', item(othersKey.id), basic)).json['@escrow.supersededBy']).toBeUndefined();
  });

  it('is refused for a key already superseded (409), and a misspelt annotation is a 400', async () => {
    const device = await newDevice();
    const old = await disclosedKey(device);
    const first = escrowBody(device, { '@escrow.replaces': old.id });
    expect((await device.client.send('PATCH', COLLECTION, first)).status).toBe(200);
    // The same successor again is the idempotent repeat.
    expect((await device.client.send('PATCH', COLLECTION, first)).status).toBe(200);
    const stale = escrowBody(device, { '@escrow.replaces': old.id });
    const refused = await device.client.send('PATCH', COLLECTION, stale);
    expect(expectGraphError(refused, 409, 'conflict').message).toBe(`Recovery key ${old.id} is already superseded by key ${first.id}.`);
    expect((await api('GET', item(stale.id!), basic)).status).toBe(404);

    const misspelt = await device.client.send('PATCH', COLLECTION, escrowBody(device, { '@escrow.replace': old.id }));
    expect(expectGraphError(misspelt, 400, 'badRequest').message).toMatch(/@escrow\.replace is not an annotation of this service/);
  });

  it('of two racing for one key: one wins, the other is a 409 and is not stored', async () => {
    const device = await newDevice();
    const old = await disclosedKey(device);
    const [a, b] = [escrowBody(device, { '@escrow.replaces': old.id }), escrowBody(device, { '@escrow.replaces': old.id })];
    const answers = await Promise.all([a, b].map((body) => device.client.send('PATCH', COLLECTION, body)));
    expect(answers.map((answer) => answer.status).sort()).toEqual([200, 409]);
    const winner = answers[0].status === 200 ? a : b;
    const loser = winner === a ? b : a;
    expect((await api('GET', item(old.id), basic)).json['@escrow.supersededBy']).toBe(winner.id);
    expect((await api('GET', item(loser.id!), basic)).status).toBe(404);
  });

  it('POST with @escrow.replaces works as PATCH does (201)', async () => {
    const device = await newDevice();
    const old = await disclosedKey(device);
    const body = escrowBody(device, { '@escrow.replaces': old.id });
    const created = await device.client.send('POST', COLLECTION, body);
    expect(created.status).toBe(201);
    expect((await api('GET', item(old.id), basic)).json['@escrow.supersededBy']).toBe(body.id);
  });
});

describe('a device delete', () => {
  it('of its own key not superseded is a 403, and the key stays', async () => {
    const device = await newDevice();
    const key = await disclosedKey(device);
    const refused = await device.client.send('DELETE', item(key.id));
    expect(expectGraphError(refused, 403, 'authorization_error').message).toMatch(/is not superseded/);
    expect((await api('GET', item(key.id), basic)).status).toBe(200);
  });

  it('of another device’s key, even superseded, is answered as for a missing key, and audited as the 403 it is', async () => {
    const owner = await newDevice();
    const intruder = await newDevice();
    const old = await disclosedKey(owner);
    expect((await owner.client.send('PATCH', COLLECTION, escrowBody(owner, { '@escrow.replaces': old.id }))).status).toBe(200);
    const refused = await intruder.client.send('DELETE', item(old.id));
    const missing = newId();
    expectAnsweredAsAbsent(refused, await intruder.client.send('DELETE', item(missing)), { hidden: old.id, absent: missing });
    expect(refused.json.error?.message).toBe(`Recovery key ${old.id} was not found.`);
    expect((await api('GET', item(old.id), basic)).status).toBe(200);
    const record = (await auditsOf(old.id, auditor)).find((event) => event.correlationId === refused.headers.get('request-id'));
    expect(record).toMatchObject({
      activityDisplayName: 'Delete BitLocker key',
      result: 'failure',
      resultReason: `403 authorization_error: Recovery key ${old.id} belongs to another device; a device may write only its own keys.`,
    });
  });
});

describe('a reveal after the rotation', () => {
  it('still answers the password, and names the successor (annotation and Link)', async () => {
    const device = await newDevice();
    const old = await disclosedKey(device);
    const successor = escrowBody(device, { '@escrow.replaces': old.id });
    expect((await device.client.send('PATCH', COLLECTION, successor)).status).toBe(200);
    const revealed = await api('GET', `${item(old.id)}?$select=key`, reader);
    expect({ status: revealed.status, key: revealed.json.key, supersededBy: revealed.json['@escrow.supersededBy'] }).toEqual({
      status: 200,
      key: old.key,
      supersededBy: successor.id,
    });
    expect(revealed.headers.get('link')).toBe(`<${host.url}${COLLECTION}/${successor.id}>; rel="successor-version"`);
    const reads = (await auditsOf(old.id, auditor)).filter((event) => event.activityDisplayName === 'Read BitLocker key');
    expect(reads.map((event) => event.resultReason)).toContain(`Key retired: superseded by key ${successor.id}, the key to read now.`);
  });
});

describe('storage failing between the successor and the retirement', () => {
  let faulty: LocalHost;
  beforeAll(async () => {
    faulty = await faultyHost();
  }, 60_000);

  /**
   * A disclosed key of a new device, and its successor PATCHed through the faulty host: four transactions go
   * through, the link's calls hang: a 503. Each of the two writes before the link is two transactions, its
   * AuditLog rows (one transaction of the event's sharded rows) and then its record with its audit twin:
   * the old key's reservation, then the successor. The successor's read of the device's key count (the
   * per-device cap) is a query, not a transaction, and is let through.
   */
  async function halfDoneRotation() {
    const device = await newDevice();
    const old = await disclosedKey(device);
    const successor = escrowBody(device, { '@escrow.replaces': old.id });
    await proxy!.settled();
    batchesSeen = 0;
    batchesBeforeHang = 4;
    const failed = await sendOnce(faulty.url, device, 'PATCH', COLLECTION, successor);
    batchesBeforeHang = undefined;
    expectGraphError(failed, 503, 'serviceNotAvailable');
    expect(batchesSeen).toBe(4);
    return { device, old, successor };
  }

  it('loses nothing: the old key stays live, and the same request again completes the link', async () => {
    const { device, old, successor } = await halfDoneRotation();

    // Nothing lost: the successor is stored, the old key is live, disclosed and not superseded.
    expect((await api('GET', item(successor.id!), basic)).status).toBe(200);
    const stillOld = await api('GET', item(old.id), basic);
    expect({ status: stillOld.status, supersededBy: stillOld.json['@escrow.supersededBy'] ?? null }).toEqual({
      status: 200,
      supersededBy: null,
    });

    // The next run sends the same successor again: nothing new is stored, the link completes.
    const again = await device.client.send('PATCH', COLLECTION, successor);
    expect({ status: again.status, id: (again.json as { id?: string }).id }).toEqual({ status: 200, id: successor.id });
    expect((await api('GET', item(old.id), basic)).json['@escrow.supersededBy']).toBe(successor.id);
    const retirements = (await auditsOf(old.id, auditor)).filter((event) => event.activityDisplayName === 'Retire BitLocker key');
    expect(retirements).toHaveLength(1);
    const adds = (await auditsOf(successor.id!, auditor)).filter((event) => event.activityDisplayName === 'Add BitLocker key');
    expect(adds).toHaveLength(1);
  });

  it("or the device's delete of the old key completes it, and then deletes", async () => {
    const { device, old, successor } = await halfDoneRotation();

    const deleted = await device.client.send('DELETE', item(old.id));
    expect({ status: deleted.status, text: deleted.text }).toEqual({ status: 204, text: '' });
    expect((await api('GET', `${DELETED}/${old.id}`, basic)).json['@escrow.supersededBy']).toBe(successor.id);
  });
});

describe('the keys awaiting rotation', () => {
  const AWAITING = '/v1.0/informationProtection/bitlocker/keysAwaitingRotation';

  /** Every key on the list, page by page, in the order served. */
  async function awaitingIds(): Promise<Record<string, unknown>[]> {
    const seen: Record<string, unknown>[] = [];
    let path: string | undefined = `${AWAITING}?$top=200`;
    while (path !== undefined) {
      const page = await api('GET', path, basic);
      expect(page.status).toBe(200);
      seen.push(...(page.json.value as unknown as Record<string, unknown>[]));
      const next = page.json['@odata.nextLink'];
      path = next === undefined ? undefined : `${new URL(next).pathname}${new URL(next).search}`;
    }
    return seen;
  }

  it('lists disclosed keys longest waiting first, with who and when, until a successor retires them', async () => {
    const device = await newDevice();
    const first = await disclosedKey(device);
    const second = await disclosedKey(device);
    let listed = await awaitingIds();
    const mine = listed.filter((key) => key.id === first.id || key.id === second.id);
    expect(mine).toEqual([
      {
        '@odata.type': '#microsoft.graph.bitlockerRecoveryKey',
        '@escrow.disclosedDateTime': first.revealed.json['@escrow.disclosedDateTime'],
        '@escrow.disclosedBy': 'agent@contoso.example',
        id: first.id,
        createdDateTime: expect.stringMatching(DATE_TIME),
        volumeType: 'operatingSystemVolume',
        deviceId: device.deviceId,
      },
      expect.objectContaining({ id: second.id, '@escrow.disclosedDateTime': second.revealed.json['@escrow.disclosedDateTime'] }),
    ]);
    const times = listed.map((key) => String(key['@escrow.disclosedDateTime']));
    expect(times).toEqual([...times].sort());

    expect((await device.client.send('PATCH', COLLECTION, escrowBody(device, { '@escrow.replaces': first.id }))).status).toBe(200);
    listed = await awaitingIds();
    expect(listed.map((key) => key.id)).not.toContain(first.id);
    expect(listed.map((key) => key.id)).toContain(second.id);
  });

  it('is metadata: a device may not read it', async () => {
    const device = await newDevice();
    expectGraphError(await device.client.send('GET', AWAITING), 403, 'authorization_error');
  });
});
