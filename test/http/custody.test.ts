import { startAzuriteTables, type RunningAzurite } from '../../scripts/devhost/azurite';
import { AUDIT_READ, auditsOf, auditsPath, type DirectoryAudit, detailOf, keySpellings, newOid, secretsIn } from '../support/audit';
import { type ApiResponse, call, callOn, type CallOptions, expectGraphError, READ, token, WRITE } from '../support/client';
import { type KeyBody, keyBody, newId, recoveryPassword } from '../support/fixtures';
import { COLLECTION, item, followPages, mapLimit } from '../support/keys';
import { startLocalHost, stopLocalHosts, type LocalHost } from '../../scripts/devhost/localHost';
import { rawTable, recordOf } from '../support/storage';
import { RECORD_ROW, TABLES } from '../../shared/storage/layout';

// Key custody: a writer can never read a key, a recovery password never
// changes under its key id, and a write's audit record says what it changed.

jest.setTimeout(60_000);

const ALL_ZEROS = Array.from({ length: 8 }, () => '000000').join('-');
const conflictMessage = (id: string): string => `the recovery password of key ${id} cannot change; a rotated password has a new key ID`;

/** The record's fields that a write may change, and its ciphertext: equal before and after a refused write. */
const storedState = async (id: string) => {
  const record = await recordOf(id);
  return (
    record && { deviceId: record.deviceId, volumeType: record.volumeType, ciphertext: record.recoveryPasswordCiphertext, etag: record.etag }
  );
};

afterAll(() => stopLocalHosts(), 30_000);

describe('the custody attack: a ReadWrite.All token lists every key, then PATCHes each one', () => {
  // A private storage and host: "every key" is then exactly the keys escrowed here.
  let azurite: RunningAzurite;
  let host: LocalHost;
  const sharedDevice = newId();
  const escrowed = Array.from({ length: 20 }, (_, i) => keyBody({ deviceId: i % 2 === 0 ? sharedDevice : newId() }));
  const passwords = escrowed.map((b) => b.key!);
  const needles = passwords.flatMap(keySpellings);
  let attacker: string;
  const attackerOid = newOid();
  let auditor: string;
  let keyReader: string;
  const at = (method: string, path: string, options: CallOptions = {}): Promise<ApiResponse> => callOn(host.url, method, path, options);

  beforeAll(async () => {
    azurite = await startAzuriteTables({ port: 0, inMemory: true, silent: true });
    host = await startLocalHost({ STORAGE_CONNECTION_STRING: azurite.connectionString });
    const escrowApp = await token({ roles: [WRITE], claims: { oid: newOid() } });
    [attacker, auditor, keyReader] = await Promise.all([
      token({ roles: [WRITE], claims: { oid: attackerOid } }),
      token({ roles: [AUDIT_READ], claims: { oid: newOid() } }),
      token({ roles: [READ], claims: { oid: newOid() } }),
    ]);
    await mapLimit(escrowed, 4, async (body) => expect((await at('PATCH', item(body.id!), { token: escrowApp, body })).status).toBe(200));
  }, 45_000);
  afterAll(async () => {
    await host?.stop();
    await azurite?.stop();
  }, 30_000);

  it('reveals no stored password: not in the list, not in any write answer, not in the audit trail', async () => {
    const pages = await followPages(`${COLLECTION}?$top=7`, attacker, 10, host.url);
    const listed: string[] = pages.flatMap((page) => page.json.value.map((k: { id: string }) => k.id));
    expect(listed.sort()).toEqual(escrowed.map((b) => b.id!).sort());

    const answers: ApiResponse[] = [...pages];
    await mapLimit(listed, 4, async (id) => {
      const tries = [
        await at('PATCH', item(id), { token: attacker, body: {} }),
        await at('PATCH', item(id), { token: attacker, body: { volumeType: 2 } }),
        await at('PATCH', COLLECTION, { token: attacker, body: { id } }),
        await at('PATCH', `/beta/bitlocker/recoveryKeys/${id.toUpperCase()}`, {
          token: attacker,
          body: { '@odata.type': '#microsoft.graph.bitlockerRecoveryKey' },
        }),
      ];
      for (const answer of tries) {
        expect({ id, status: answer.status }).toEqual({ id, status: 200 });
        expect(answer.json).not.toHaveProperty('key');
      }
      const keyRead = await at('GET', `${item(id)}?$select=key`, { token: attacker });
      expectGraphError(keyRead, 403, 'authorization_error');
      answers.push(...tries, keyRead);
    });
    expect(answers.length).toBe(pages.length + listed.length * 5);
    expect(secretsIn(answers.map((a) => a.text).join('\n'), needles)).toEqual([]);

    // The trail records the attacker's writes one by one, as updates that changed (or did not change)
    // metadata, never a password; its refused key reads are recorded one by one up to the per-minute
    // bound and counted into the caller's refusal summary beyond it (merged within about a second).
    const attackIds = new Set(answers.slice(pages.length).map((a) => a.headers.get('request-id')));
    let trail: ApiResponse[] = [];
    let updates: DirectoryAudit[] = [];
    let refusedReads = 0;
    for (const deadline = Date.now() + 10_000; Date.now() < deadline; await new Promise((r) => setTimeout(r, 500))) {
      trail = await followPages(auditsPath({ $top: '1000' }), auditor, 10, host.url);
      const records = trail.flatMap((page) => page.json.value as DirectoryAudit[]);
      const byAttacker = records.filter((e) => attackIds.has(e.correlationId));
      updates = byAttacker.filter((e) => e.activityDisplayName === 'Update BitLocker key');
      const summarized = records
        .filter((e) => e.activityDisplayName === 'Refused BitLocker key requests' && e.initiatedBy.app?.servicePrincipalId === attackerOid)
        .reduce((sum, e) => sum + Number(e.additionalDetails.find((d) => d.key === 'RefusedCount')?.value ?? 0), 0);
      refusedReads = byAttacker.filter((e) => e.activityDisplayName === 'Read BitLocker key').length + summarized;
      if (refusedReads >= listed.length) break;
    }
    expect(updates.length).toBe(listed.length * 4);
    expect(refusedReads).toBe(listed.length);
    expect(secretsIn(trail.map((p) => p.text).join('\n'), needles)).toEqual([]);
  });

  it('cannot overwrite a password (an all-zero one, or any other), and every key still reads back as escrowed', async () => {
    for (const body of escrowed.slice(0, 5)) {
      for (const key of [ALL_ZEROS, recoveryPassword()]) {
        const refused = await at('PATCH', item(body.id!), { token: attacker, body: { key } });
        expect(expectGraphError(refused, 409, 'conflict').message).toBe(conflictMessage(body.id!));
        expect(secretsIn(refused.text, needles)).toEqual([]);
      }
      const viaCollection = await at('PATCH', COLLECTION, { token: attacker, body: { ...body, key: ALL_ZEROS } });
      expectGraphError(viaCollection, 409, 'conflict');
      expectGraphError(await at('POST', COLLECTION, { token: attacker, body: { ...body, key: ALL_ZEROS } }), 409, 'conflict');
    }
    const reads = await mapLimit(escrowed, 4, (body) => at('GET', `${item(body.id!)}?$select=key`, { token: keyReader }));
    expect(reads.map((r) => r.json.key)).toEqual(passwords);
  });
});

describe('a recovery password is immutable under its key id', () => {
  let writer: string;
  let auditor: string;
  let keyReader: string;
  beforeAll(async () => {
    [writer, auditor, keyReader] = await Promise.all([
      token({ roles: [WRITE], claims: { oid: newOid() } }),
      token({ roles: [AUDIT_READ], claims: { oid: newOid() } }),
      token({ roles: [READ], claims: { oid: newOid() } }),
    ]);
  });
  const patch = (path: string, body: unknown, headers?: Record<string, string>) => call('PATCH', path, { token: writer, body, headers });

  async function escrow(overrides: KeyBody = {}): Promise<{ body: KeyBody; etag: string }> {
    const body = keyBody(overrides);
    const response = await patch(item(body.id!), body);
    expect(response.status).toBe(200);
    return { body, etag: response.headers.get('etag')! };
  }

  it('a different key is a 409 conflict that says so, stores nothing and is audited as a refused update', async () => {
    const { body } = await escrow();
    const before = await storedState(body.id!);
    const other = recoveryPassword();
    // With other changes too: the whole write is refused, not merged without its key.
    const refused = await patch(item(body.id!), { key: other, volumeType: 'fixedDataVolume', deviceId: newId() });
    expect(expectGraphError(refused, 409, 'conflict').message).toBe(conflictMessage(body.id!));
    expect(secretsIn(refused.text, [...keySpellings(body.key!), ...keySpellings(other)])).toEqual([]);
    expect(await storedState(body.id!)).toEqual(before);

    const [latest] = await auditsOf(body.id!, auditor);
    expect(latest).toMatchObject({
      activityDisplayName: 'Update BitLocker key',
      result: 'failure',
      resultReason: `409 conflict: ${conflictMessage(body.id!)}`,
      correlationId: refused.headers.get('request-id'),
      targetResources: [{ id: body.id, displayName: body.id, type: 'BitLockerKey' }],
    });
    expect(JSON.stringify(latest)).not.toContain(other);
  });

  it('the same key again is the idempotent no-op: 200, the same ETag, its own key echoed', async () => {
    const { body, etag } = await escrow();
    for (const again of [body, { key: body.key }, { id: body.id, key: body.key, deviceId: body.deviceId }]) {
      const response = await patch(item(body.id!), again);
      expect({ status: response.status, etag: response.headers.get('etag'), key: response.json.key }).toEqual({
        status: 200,
        etag,
        key: body.key,
      });
    }
    const viaCollection = await patch(COLLECTION, body);
    expect({ status: viaCollection.status, etag: viaCollection.headers.get('etag') }).toEqual({ status: 200, etag });
  });

  it('concurrent writers with other keys all get 409 while metadata writers go through; the stored key never moves', async () => {
    const { body } = await escrow({ volumeType: 'operatingSystemVolume' });
    const writes = Array.from({ length: 16 }, (_, i) =>
      i % 2 === 0 ? { key: recoveryPassword() } : { volumeType: i % 4 === 1 ? 'fixedDataVolume' : 'removableDataVolume' },
    );
    const responses = await Promise.all(writes.map((w) => patch(item(body.id!), w)));
    for (const [i, response] of responses.entries()) {
      if ('key' in writes[i]) expectGraphError(response, 409, 'conflict');
      else if (response.status !== 503)
        expect({ status: response.status, key: response.json.key }).toEqual({ status: 200, key: undefined });
    }
    expect((await call('GET', `${item(body.id!)}?$select=key`, { token: keyReader })).json.key).toBe(body.key);
  });

  it('racing creations of one id with different keys: one is stored, every other is a 409, none overwrites it', async () => {
    const id = newId();
    const bodies = Array.from({ length: 10 }, () => keyBody({ id }));
    const responses = await Promise.all(bodies.map((b) => patch(item(id), b)));
    const winners = responses.flatMap((r, i) => (r.status === 200 ? [bodies[i]] : []));
    expect(winners).toHaveLength(1);
    for (const r of responses.filter((r) => r.status !== 200))
      expect(expectGraphError(r, 409, 'conflict').message).toBe(conflictMessage(id));
    expect((await call('GET', `${item(id)}?$select=key`, { token: keyReader })).json.key).toBe(winners[0].key);
  });

  it('a write that sends no key never decrypts the stored one: it succeeds on a record whose ciphertext is unreadable', async () => {
    const { body } = await escrow();
    const table = rawTable(TABLES.recoveryKeys);
    const original = (await recordOf(body.id!))!;
    const broken = Buffer.from(original.recoveryPasswordCiphertext as string, 'base64');
    broken[broken.length - 1] ^= 0x01;
    await table.updateEntity(
      { partitionKey: body.id!, rowKey: RECORD_ROW, recoveryPasswordCiphertext: broken.toString('base64') },
      'Merge',
    );
    try {
      for (const write of [{}, { volumeType: 'fixedDataVolume' }, { deviceId: newId() }]) {
        const response = await patch(item(body.id!), write);
        expect({ status: response.status, key: response.json.key }).toEqual({ status: 200, key: undefined });
      }
      // The ciphertext was carried over as it was, not re-sealed.
      expect((await recordOf(body.id!))!.recoveryPasswordCiphertext).toBe(broken.toString('base64'));
      // A write that sends a key must compare it, so it meets the broken record: an error, never a key.
      expectGraphError(await patch(item(body.id!), { key: body.key }), 500, 'generalException');
    } finally {
      await table.updateEntity(
        { partitionKey: body.id!, rowKey: RECORD_ROW, recoveryPasswordCiphertext: original.recoveryPasswordCiphertext },
        'Merge',
      );
    }
  });
});

describe('moves and updates say what changed', () => {
  let writer: string;
  let auditor: string;
  beforeAll(async () => {
    [writer, auditor] = await Promise.all([
      token({ roles: [WRITE], claims: { oid: newOid() } }),
      token({ roles: [AUDIT_READ], claims: { oid: newOid() } }),
    ]);
  });
  const patch = (id: string, body: unknown) => call('PATCH', item(id), { token: writer, body });
  const modified = (event: DirectoryAudit) => (event.targetResources[0] as { modifiedProperties?: unknown }).modifiedProperties;

  it('records the add with the properties it set, a move with the old and the new device, and "key unchanged"', async () => {
    const body = keyBody({ createdDateTime: '2024-05-06T07:08:09.000Z' });
    const oldDevice = body.deviceId!;
    const newDevice = newId();
    expect((await patch(body.id!, body)).status).toBe(200);
    const moved = await patch(body.id!, { deviceId: newDevice, volumeType: 'fixedDataVolume', key: body.key });
    expect(moved.json).toMatchObject({ deviceId: newDevice, volumeType: 'fixedDataVolume', key: body.key });
    const repeated = await patch(body.id!, { deviceId: newDevice });
    expect(repeated.status).toBe(200);

    const [noChange, update, add] = await auditsOf(body.id!, auditor);
    expect(modified(add)).toEqual([
      { displayName: 'deviceId', oldValue: null, newValue: JSON.stringify(oldDevice) },
      { displayName: 'volumeType', oldValue: null, newValue: '"operatingSystemVolume"' },
      { displayName: 'createdDateTime', oldValue: null, newValue: '"2024-05-06T07:08:09.000Z"' },
    ]);
    expect(update).toMatchObject({
      activityDisplayName: 'Update BitLocker key',
      result: 'success',
      correlationId: moved.headers.get('request-id'),
    });
    expect(modified(update)).toEqual([
      { displayName: 'deviceId', oldValue: JSON.stringify(oldDevice), newValue: JSON.stringify(newDevice) },
      { displayName: 'volumeType', oldValue: '"operatingSystemVolume"', newValue: '"fixedDataVolume"' },
    ]);
    expect([detailOf(update, 'DeviceId'), detailOf(update, 'PreviousDeviceId'), detailOf(update, 'Key')]).toEqual([
      newDevice,
      oldDevice,
      'key unchanged',
    ]);
    // A write that changed nothing lists nothing.
    expect(noChange.resultReason).toMatch(/no change/i);
    expect(modified(noChange)).toBeUndefined();
    expect(detailOf(noChange, 'PreviousDeviceId')).toBeUndefined();
    expect(secretsIn(JSON.stringify([add, update, noChange]), keySpellings(body.key!))).toEqual([]);
  });
});
