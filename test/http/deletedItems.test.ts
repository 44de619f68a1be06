import { expect } from '@jest/globals';
import { AUDIT_READ, auditsOf, secretsIn, keySpellings, newOid } from '../support/audit';
import { call, expectGraphError, READ, READ_BASIC, token, tokenWith, WRITE, type ApiResponse } from '../support/client';
import { keyBody, newId } from '../support/fixtures';
import { COLLECTION, item, escrowKeys, listPath, readAllPages } from '../support/keys';
import { keyRowsOf } from '../support/storage';

// Soft delete, restore and purge over HTTP against the local host, in Graph's directory/deletedItems
// shapes. Retention and the purge job are in retention.test.ts, on a storage of their own.

const PURGE = 'BitLockerKey.Purge.All';
const DELETED = '/v1.0/directory/deletedItems';
const DELETED_KEYS = `${DELETED}/microsoft.graph.bitlockerRecoveryKey`;

let writer: string;
let reader: string;
let basicReader: string;
let purger: string;
let auditor: string;

beforeAll(async () => {
  [writer, reader, basicReader, purger, auditor] = await Promise.all([
    tokenWith(WRITE),
    tokenWith(READ),
    tokenWith(READ_BASIC),
    tokenWith(PURGE),
    tokenWith(AUDIT_READ),
  ]);
});

const deletedItem = (id: string): string => `${DELETED}/${id}`;
const restorePath = (id: string): string => `${DELETED}/${id}/restore`;

async function escrowAndDelete(overrides: Parameters<typeof keyBody>[0] = {}) {
  const [body] = await escrowKeys(writer, [keyBody(overrides)]);
  expect((await call('DELETE', item(body.id!), { token: writer })).status).toBe(204);
  return body;
}

/** No stored password, in any spelling, anywhere in the response. */
const expectNoKey = (response: ApiResponse, key: string): void => expect(secretsIn(response.text, keySpellings(key))).toEqual([]);

describe('DELETE {collection}/{id} is a soft delete', () => {
  it('the key is absent from GET, the device list, prefix and id search, and listed under deletedItems with deletedDateTime, without key', async () => {
    const deviceId = newId();
    const body = await escrowAndDelete({ deviceId });
    const [byId, byDevice, byPrefix, byIdFilter, one] = await Promise.all([
      call('GET', item(body.id!), { token: reader }),
      call('GET', listPath({ $filter: `deviceId eq '${deviceId}'` }), { token: reader }),
      call('GET', listPath({ $filter: `startswith(id,'${body.id!.slice(0, 8)}')` }), { token: reader }),
      call('GET', listPath({ $filter: `id eq '${body.id}'` }), { token: reader }),
      call('GET', deletedItem(body.id!), { token: basicReader }),
    ]);
    expectGraphError(byId, 404, 'itemNotFound');
    expectGraphError(await call('GET', `${item(body.id!)}?$select=key`, { token: reader }), 404, 'itemNotFound');
    expect(byDevice.json.value).toEqual([]);
    expect(byPrefix.json.value.map((k: { id: string }) => k.id)).not.toContain(body.id);
    expect(byIdFilter.json.value).toEqual([]);

    expect(one.status).toBe(200);
    expect(one.json).toEqual({
      '@odata.context': expect.stringMatching(/\/v1\.0\/\$metadata#directory\/deletedItems\/\$entity$/),
      '@odata.etag': one.headers.get('etag'),
      '@odata.type': '#microsoft.graph.bitlockerRecoveryKey',
      id: body.id,
      deviceId,
      volumeType: 'operatingSystemVolume',
      createdDateTime: expect.any(String),
      deletedDateTime: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/),
    });
    expectNoKey(one, body.key!);

    const listed = await readAllPages(`${DELETED_KEYS}?$top=50`, basicReader, 500);
    const mine = listed.pages.flatMap((page) => page.json.value).find((k: { id: string }) => k.id === body.id);
    const { '@odata.context': _context, '@odata.etag': _etag, ...properties } = one.json;
    expect(mine).toEqual(properties);
    for (const page of listed.pages) {
      expect(page.json['@odata.context']).toMatch(/\$metadata#directory\/deletedItems\/microsoft\.graph\.bitlockerRecoveryKey$/);
      for (const entry of page.json.value) expect(entry).not.toHaveProperty('key');
      expectNoKey(page, body.key!);
    }
  });

  it('restore brings it back with its password intact: 200 without key, then a Read.All key read gives the same password', async () => {
    const deviceId = newId();
    const body = await escrowAndDelete({ deviceId });
    const restored = await call('POST', restorePath(body.id!), { token: writer });
    expect(restored.status).toBe(200);
    expect(restored.json).toMatchObject({ id: body.id, deviceId, volumeType: 'operatingSystemVolume' });
    expect(restored.json).not.toHaveProperty('key');
    expect(restored.json).not.toHaveProperty('deletedDateTime');
    expect(restored.headers.get('etag')).toBe(restored.json['@odata.etag']);
    expectNoKey(restored, body.key!);

    const read = await call('GET', `${item(body.id!)}?$select=key`, { token: reader });
    expect({ status: read.status, key: read.json.key }).toEqual({ status: 200, key: body.key });
    const byDevice = await call('GET', listPath({ $filter: `deviceId eq '${deviceId}'` }), { token: basicReader });
    expect(byDevice.json.value.map((k: { id: string }) => k.id)).toEqual([body.id]);
    expectGraphError(await call('GET', deletedItem(body.id!), { token: reader }), 404, 'itemNotFound');
    expectGraphError(await call('POST', restorePath(body.id!), { token: writer }), 404, 'itemNotFound');
  });

  it('a write to the id of a deleted key is a 409 that says to restore or purge it, and stores nothing', async () => {
    const body = await escrowAndDelete();
    const before = await keyRowsOf(body.id!);
    const attempts = await Promise.all([
      call('PATCH', item(body.id!), { token: writer, body: { volumeType: 2 } }),
      call('PATCH', item(body.id!), { token: writer, body: keyBody({ id: body.id }) }),
      call('PATCH', '/bitlocker/recoveryKeys', { token: writer, body: keyBody({ id: body.id }) }),
      call('POST', COLLECTION, { token: writer, body: keyBody({ id: body.id }) }),
    ]);
    for (const attempt of attempts) {
      const error = expectGraphError(attempt, 409, 'conflict');
      expect(error.message).toMatch(/deleted/);
      expect(error.message).toContain(`/directory/deletedItems/${body.id}/restore`);
      expect(error.message).toMatch(/purge/);
    }
    expect(await keyRowsOf(body.id!)).toEqual(before);
    const failures = await auditsOf(body.id!, auditor, "activityDisplayName eq 'Update BitLocker key'");
    expect(failures.filter((e) => e.result === 'failure' && /409/.test(e.resultReason)).length).toBeGreaterThanOrEqual(3);
  });

  it('purge needs BitLockerKey.Purge.All: ReadWrite.All is refused (403, audited), Purge.All purges (204), and then it is gone for good', async () => {
    const body = await escrowAndDelete();
    for (const bearer of [writer, reader, basicReader]) {
      expectGraphError(await call('DELETE', deletedItem(body.id!), { token: bearer }), 403, 'authorization_error');
    }
    expect((await call('GET', deletedItem(body.id!), { token: reader })).status).toBe(200);
    // Purge.All alone reads and restores nothing.
    expectGraphError(await call('POST', restorePath(body.id!), { token: purger }), 403, 'authorization_error');
    expectGraphError(await call('GET', deletedItem(body.id!), { token: purger }), 403, 'authorization_error');

    const purged = await call('DELETE', deletedItem(body.id!), { token: purger });
    expect({ status: purged.status, text: purged.text }).toEqual({ status: 204, text: '' });
    expectGraphError(await call('GET', deletedItem(body.id!), { token: reader }), 404, 'itemNotFound');
    expectGraphError(await call('POST', restorePath(body.id!), { token: writer }), 404, 'itemNotFound');
    expectGraphError(await call('DELETE', deletedItem(body.id!), { token: purger }), 404, 'itemNotFound');
    expect(await keyRowsOf(body.id!)).toEqual({ records: [], index: [] });
    // Purged, the id is free again.
    expect((await call('PATCH', item(body.id!), { token: writer, body: keyBody({ id: body.id }) })).status).toBe(200);

    const trail = await auditsOf(body.id!, auditor);
    const names = (result: string) => trail.filter((e) => e.result === result).map((e) => e.activityDisplayName);
    expect(names('success')).toEqual(expect.arrayContaining(['Add BitLocker key', 'Delete BitLocker key', 'Purge BitLocker key']));
    const refusedPurges = trail.filter((e) => e.activityDisplayName === 'Purge BitLocker key' && e.result === 'failure');
    expect(refusedPurges.map((e) => e.resultReason.slice(0, 3)).sort()).toEqual(['403', '403', '403', '404']);
    expect(trail.find((e) => e.activityDisplayName === 'Purge BitLocker key' && e.result === 'success')!.operationType).toBe('Purge');
  });

  it('purge of a live key is a 404 and leaves it; restore with a stale If-Match is a 412', async () => {
    const [live] = await escrowKeys(writer, [keyBody()]);
    expectGraphError(await call('DELETE', deletedItem(live.id!), { token: purger }), 404, 'itemNotFound');
    expect((await call('GET', item(live.id!), { token: reader })).status).toBe(200);

    const body = await escrowAndDelete();
    expectGraphError(
      await call('POST', restorePath(body.id!), { token: writer, headers: { 'If-Match': 'W/"stale"' } }),
      412,
      'preconditionFailed',
    );
    const etag = (await call('GET', deletedItem(body.id!), { token: reader })).headers.get('etag')!;
    expect((await call('POST', restorePath(body.id!), { token: writer, headers: { 'If-Match': etag } })).status).toBe(200);
    const trail = await auditsOf(body.id!, auditor, "activityDisplayName eq 'Restore BitLocker key'");
    expect(trail.map((e) => e.result).sort()).toEqual(['failure', 'success']);
  });
});

describe('directory/deletedItems paths', () => {
  it('every path form answers, with paging by $top and @odata.nextLink', async () => {
    await Promise.all([escrowAndDelete(), escrowAndDelete(), escrowAndDelete()]);
    for (const prefix of ['', '/v1.0', '/beta']) {
      const first = await call('GET', `${prefix}/directory/deletedItems/microsoft.graph.bitlockerRecoveryKey?$top=2`, {
        token: basicReader,
      });
      expect(first.status).toBe(200);
      expect(first.json.value.length).toBe(2);
      const next = new URL(first.json['@odata.nextLink']);
      expect(next.pathname).toBe(`${prefix}/directory/deletedItems/microsoft.graph.bitlockerRecoveryKey`);
      const second = await call('GET', `${next.pathname}${next.search}`, { token: basicReader });
      expect(second.status).toBe(200);
      expect(second.json.value.map((k: { id: string }) => k.id)).not.toContain(first.json.value[0].id);
    }
    expectGraphError(await call('GET', `${DELETED_KEYS}?$filter=id eq '${newId()}'`, { token: basicReader }), 400, 'badRequest');
    expectGraphError(await call('GET', `${DELETED_KEYS}?$skiptoken=abc`, { token: basicReader }), 400, 'badRequest');
    expectGraphError(
      await call('GET', DELETED_KEYS, { token: await token({ roles: ['User.Read.All'], claims: { oid: newOid() } }) }),
      403,
      'authorization_error',
    );
    expectGraphError(await call('GET', DELETED_KEYS), 401, 'InvalidAuthenticationToken');
  });

  it.each([
    // HEAD wherever there is a GET (RFC 9110 section 9.3.2).
    ['PUT', DELETED_KEYS, 'GET, HEAD'],
    ['POST', DELETED_KEYS, 'GET, HEAD'],
    ['POST', `${DELETED}/2d7b3c6a-8f0e-4b1d-9a53-0c2e7f1d4b6e`, 'GET, HEAD, DELETE'],
    ['GET', `${DELETED}/2d7b3c6a-8f0e-4b1d-9a53-0c2e7f1d4b6e/restore`, 'POST'],
  ])('%s %s is a 405 with Allow: %s', async (method, path, allow) => {
    const response = await call(method, path, { token: writer });
    expectGraphError(response, 405, 'methodNotAllowed');
    expect(response.headers.get('allow')).toBe(allow);
  });

  it('paths beside them are 404 or 400 in Graph shape', async () => {
    expectGraphError(await call('GET', DELETED, { token: reader }), 404, 'itemNotFound');
    expectGraphError(await call('GET', `${DELETED}/microsoft.graph.user`, { token: reader }), 400, 'badRequest');
    expectGraphError(await call('GET', `${deletedItem(newId())}/restore/more`, { token: reader }), 404, 'itemNotFound');
    expectGraphError(await call('GET', deletedItem(newId()), { token: reader }), 404, 'itemNotFound');
  });

  it('a query option on one deleted key is a 400 that names the properties its answer holds', async () => {
    const body = await escrowAndDelete();
    for (const query of ['$select=id', '$select=key', '$expand=key&$select=id']) {
      const response = await call('GET', `${deletedItem(body.id!)}?${query}`, { token: basicReader });
      expect(expectGraphError(response, 400, 'badRequest').message).toBe(
        `The query option '${query.split('&')[0].split('=')[0]}' is not supported when reading a deleted recovery key: ` +
          'it takes no query options. Its answer always holds id, createdDateTime, volumeType, deviceId, deletedDateTime.',
      );
      expectNoKey(response, body.key!);
    }
  });
});
