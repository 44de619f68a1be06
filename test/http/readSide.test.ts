import { expect } from '@jest/globals';
import { baseUrl, call, expectGraphError, READ, READ_BASIC, token, tokenWith, WRITE, type GraphJson } from '../support/client';
import { keyBody, newId, recoveryPassword } from '../support/fixtures';
import { COLLECTION, WHOLE_KEY, escrowKeys, keyBodies, listPath, sorted } from '../support/keys';
import { keyRowsOf } from '../support/storage';

// The read side (GET list and item) and the other verbs (POST, DELETE, 405) over HTTP against the
// local host, as Graph clients use them.

const ITEM_CONTEXT = '$metadata#informationProtection/bitlocker/recoveryKeys/$entity';
const LIST_CONTEXT = '$metadata#informationProtection/bitlocker/recoveryKeys';

let writer: string;
let reader: string;
let basicReader: string;
let noPermission: string;

beforeAll(async () => {
  [writer, reader, basicReader, noPermission] = await Promise.all([
    tokenWith(WRITE),
    tokenWith(READ),
    tokenWith(READ_BASIC),
    tokenWith('User.Read.All', 'Device.Read.All'),
  ]);
});

const get = (path: string, bearer: string | undefined, headers: Record<string, string> = {}) =>
  call('GET', path, { token: bearer, headers });

const idsOf = (response: { json: GraphJson }): string[] => response.json.value.map((k) => k.id);

const deviceFilter = (deviceId: string): string => `deviceId eq '${deviceId}'`;

async function escrow(overrides: Parameters<typeof keyBody>[0] = {}) {
  const [body] = await escrowKeys(writer, [keyBody(overrides)]);
  return body;
}

describe('GET {collection}', () => {
  it.each([
    ['ReadBasic.All', () => basicReader],
    ['Read.All', () => reader],
    ['ReadWrite.All', () => writer],
  ])('never returns key, not even to %s', async (_name, bearer) => {
    const body = await escrow();
    for (const path of [
      listPath({ $filter: deviceFilter(body.deviceId!) }),
      listPath({ $filter: `id eq '${body.id}'` }),
      listPath({ $filter: `startswith(id,'${body.id!.slice(0, 8)}')` }),
      listPath({ $top: '50' }),
    ]) {
      const response = await get(path, bearer());
      expect(response.status).toBe(200);
      expect(response.json.value.length).toBeGreaterThan(0);
      for (const item of response.json.value) expect(item).not.toHaveProperty('key');
      expect(response.text).not.toContain(body.key);
    }
  });

  it("$filter=deviceId eq '{guid}' returns exactly that device's keys", async () => {
    const deviceId = newId();
    const mine = await escrowKeys(writer, keyBodies(3, { deviceId }));
    const others = await escrowKeys(writer, [...keyBodies(2, { deviceId: newId() }), keyBody()]);
    const response = await get(listPath({ $filter: deviceFilter(deviceId) }), basicReader);
    expect(response.status).toBe(200);
    expect(sorted(idsOf(response))).toEqual(sorted(mine.map((k) => k.id!)));
    for (const item of response.json.value) expect(item.deviceId).toBe(deviceId);
    expect(response.json).not.toHaveProperty('@odata.nextLink');
    // The other devices' keys are there to be found: this is a filter, not an empty table.
    const other = await get(listPath({ $filter: deviceFilter(others[0].deviceId!) }), basicReader);
    expect(sorted(idsOf(other))).toEqual(sorted(others.slice(0, 2).map((k) => k.id!)));
  });

  it('accepts the device GUID in upper case and in braces', async () => {
    const deviceId = newId();
    const mine = await escrowKeys(writer, keyBodies(2, { deviceId }));
    const response = await get(listPath({ $filter: `deviceId eq '{${deviceId.toUpperCase()}}'` }), basicReader);
    expect(response.status).toBe(200);
    expect(sorted(idsOf(response))).toEqual(sorted(mine.map((k) => k.id!)));
  });

  it("$filter=id eq '{guid}' returns that key alone, and an empty list for an absent id", async () => {
    const body = await escrow();
    const found = await get(listPath({ $filter: `id eq '${body.id!.toUpperCase()}'` }), basicReader);
    expect(found.status).toBe(200);
    expect(found.json.value).toEqual([
      {
        '@odata.type': '#microsoft.graph.bitlockerRecoveryKey',
        id: body.id,
        deviceId: body.deviceId,
        volumeType: 'operatingSystemVolume',
        createdDateTime: expect.stringMatching(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/),
      },
    ]);
    const absent = await get(listPath({ $filter: `id eq '${newId()}'` }), basicReader);
    expect(absent.status).toBe(200);
    expect(absent.json.value).toEqual([]);
  });

  it("$filter=startswith(id,'{first 8 characters}') finds the key, and only keys with that prefix", async () => {
    const body = await escrow();
    const prefix = body.id!.slice(0, 8);
    for (const typed of [prefix, prefix.toUpperCase()]) {
      const response = await get(listPath({ $filter: `startswith(id,'${typed}')` }), basicReader);
      expect(response.status).toBe(200);
      expect(idsOf(response)).toContain(body.id);
      for (const id of idsOf(response)) expect(id.startsWith(prefix)).toBe(true);
    }
  });

  it('$select=id,deviceId returns only those properties, and @odata.context says so', async () => {
    const body = await escrow();
    const response = await get(listPath({ $filter: deviceFilter(body.deviceId!), $select: 'id,deviceId' }), basicReader);
    expect(response.status).toBe(200);
    expect(response.json.value).toEqual([{ '@odata.type': '#microsoft.graph.bitlockerRecoveryKey', id: body.id, deviceId: body.deviceId }]);
    expect(response.json['@odata.context']).toBe(`${baseUrl()}/v1.0/${LIST_CONTEXT}(id,deviceId)`);
  });

  it.each([
    ['/bitlocker/recoveryKeys', 'v1.0'],
    ['/informationProtection/bitlocker/recoveryKeys', 'v1.0'],
    ['/v1.0/bitlocker/recoveryKeys', 'v1.0'],
    ['/v1.0/informationProtection/bitlocker/recoveryKeys', 'v1.0'],
    ['/beta/bitlocker/recoveryKeys', 'beta'],
    ['/beta/informationProtection/bitlocker/recoveryKeys', 'beta'],
  ])('@odata.context of %s is on the request origin under /%s', async (collection, version) => {
    const response = await get(listPath({ $top: '1' }, collection), basicReader);
    expect(response.status).toBe(200);
    expect(response.json['@odata.context']).toBe(`${baseUrl()}/${version}/${LIST_CONTEXT}`);
    expect(Array.isArray(response.json.value)).toBe(true);
  });

  it.each([
    [
      '$orderby',
      { $orderby: 'createdDateTime desc' },
      /'\$orderby' is not supported when listing.*Supported: \$filter, \$top, \$select, \$skiptoken/,
    ],
    ['an unknown option', { $count: 'true' }, /'\$count' is not supported.*Supported: \$filter, \$top, \$select, \$skiptoken/],
    ['an option without $', { filter: "deviceId eq '2d7b3c6a-8f0e-4b1d-9a53-0c2e7f1d4b6e'" }, /did you mean '\$filter'/],
    [
      'a malformed filter',
      { $filter: 'deviceId eq' },
      /Invalid \$filter: .*Supported filters: deviceId eq '\{guid\}', id eq '\{guid\}', startswith\(id,'\{hex prefix\}'\)/,
    ],
    ['a filter on key', { $filter: "key eq '1'" }, /filtering on 'key' is not supported.*Supported filters/],
    ['an unsupported operator', { $filter: "deviceId ne '2d7b3c6a-8f0e-4b1d-9a53-0c2e7f1d4b6e'" }, /only 'eq' is.*Supported filters/],
    ['$select=key on the list', { $select: 'key' }, /\$select=key is not supported on the list.*\/recoveryKeys\/\{id\}\?\$select=key/],
    ['$top=0', { $top: '0' }, /\$top must be a whole number from 1 to 1000.*not '0'/],
    ['$top=1001', { $top: '1001' }, /\$top must be a whole number from 1 to 1000.*not '1001'/],
    ['$top=abc', { $top: 'abc' }, /\$top must be a whole number from 1 to 1000.*not 'abc'/],
  ])('400 with a helpful message for %s', async (_what, options, message) => {
    const response = await get(listPath(options), basicReader);
    expect(expectGraphError(response, 400, 'badRequest').message).toMatch(message);
  });

  describe('$skiptoken', () => {
    let deviceId: string;
    let skipToken: string;
    beforeAll(async () => {
      deviceId = newId();
      await escrowKeys(writer, keyBodies(3, { deviceId }));
      const first = await get(listPath({ $filter: deviceFilter(deviceId), $top: '1' }), basicReader);
      expect(first.status).toBe(200);
      skipToken = new URL(first.json['@odata.nextLink']).searchParams.get('$skiptoken')!;
      expect(skipToken).toBeTruthy();
    });

    it('is accepted unchanged with the filter it was issued for', async () => {
      const response = await get(listPath({ $filter: deviceFilter(deviceId), $top: '1', $skiptoken: skipToken }), basicReader);
      expect(response.status).toBe(200);
      expect(response.json.value).toHaveLength(1);
    });

    it('is refused when tampered with', async () => {
      for (const at of [2, Math.floor(skipToken.length / 2), skipToken.length - 2]) {
        const tampered = skipToken.slice(0, at) + (skipToken[at] === 'A' ? 'B' : 'A') + skipToken.slice(at + 1);
        const response = await get(listPath({ $filter: deviceFilter(deviceId), $top: '1', $skiptoken: tampered }), basicReader);
        expect(expectGraphError(response, 400, 'badRequest').message).toMatch(/\$skiptoken is invalid or was altered; start again/);
      }
    });

    it('is refused with a different filter, or with none', async () => {
      const others: Record<string, string>[] = [{ $filter: deviceFilter(newId()) }, { $filter: `startswith(id,'0')` }, {}];
      for (const options of others) {
        const response = await get(listPath({ ...options, $top: '1', $skiptoken: skipToken }), basicReader);
        expect(expectGraphError(response, 400, 'badRequest').message).toMatch(/\$skiptoken is invalid or was altered/);
      }
    });
  });
});

describe('GET {collection}/{id}', () => {
  it('returns the object at top level, without value or key, with ETag equal to @odata.etag', async () => {
    const body = await escrow();
    const response = await get(`${COLLECTION}/${body.id}`, reader);
    expect(response.status).toBe(200);
    expect(response.json).toEqual({
      '@odata.context': `${baseUrl()}/v1.0/${ITEM_CONTEXT}`,
      '@odata.etag': expect.any(String),
      '@odata.type': '#microsoft.graph.bitlockerRecoveryKey',
      id: body.id,
      deviceId: body.deviceId,
      volumeType: 'operatingSystemVolume',
      createdDateTime: expect.any(String),
    });
    expect(response.headers.get('etag')).toBe(response.json['@odata.etag']);
    expect(response.text).not.toContain(body.key);
  });

  it('?$select=key returns the key, and only the key, to Read.All', async () => {
    const body = await escrow();
    const response = await get(`/beta/bitlocker/recoveryKeys/${body.id}?$select=key`, reader);
    expect(response.status).toBe(200);
    expect(response.json).toEqual({
      '@odata.context': `${baseUrl()}/beta/$metadata#informationProtection/bitlocker/recoveryKeys(key)/$entity`,
      '@odata.etag': response.headers.get('etag'),
      '@odata.type': '#microsoft.graph.bitlockerRecoveryKey',
      // The first reveal marks the key disclosed (ROTATE_AFTER_REVEAL): instance annotations, not properties.
      '@escrow.disclosedDateTime': expect.stringMatching(/^\d{4}-\d\d-\d\dT[\d:.]+Z$/),
      '@escrow.disclosedBy': expect.any(String),
      key: body.key,
    });
  });

  it.each([
    ['ReadBasic.All', () => basicReader],
    ['ReadWrite.All', () => writer],
  ])('?$select=key is a 403 for %s: only Read.All ever reads a key', async (_name, bearer) => {
    const body = await escrow();
    const response = await get(`${COLLECTION}/${body.id}?$select=key`, bearer());
    expect(expectGraphError(response, 403, 'authorization_error').message).toMatch(/BitLockerKey\.Read\.All/);
    expect(response.text).not.toContain(body.key);
  });

  it('404 for an absent id', async () => {
    const response = await get(`${COLLECTION}/${newId()}`, reader);
    expectGraphError(response, 404, 'itemNotFound');
  });

  it('400 for a malformed id', async () => {
    const response = await get(`${COLLECTION}/not-a-guid`, reader);
    expect(expectGraphError(response, 400, 'badRequest').message).toMatch(/not a valid recovery key id/);
  });
});

describe('read permissions', () => {
  let body: Awaited<ReturnType<typeof escrow>>;
  beforeAll(async () => {
    body = await escrow();
  });

  it.each([
    ['application role ReadBasic.All', () => tokenWith(READ_BASIC)],
    ['application role Read.All', () => tokenWith(READ)],
    ['application role ReadWrite.All', () => tokenWith(WRITE)],
    ['delegated scope ReadBasic.All', () => token({ scopes: [READ_BASIC] })],
    ['a differently cased permission', () => tokenWith('BitlockerKey.ReadBasic.All')],
  ])('%s may list and read metadata', async (_name, mint) => {
    const bearer = await mint();
    const list = await get(listPath({ $filter: deviceFilter(body.deviceId!) }), bearer);
    expect(list.status).toBe(200);
    expect(idsOf(list)).toEqual([body.id]);
    const item = await get(`${COLLECTION}/${body.id}`, bearer);
    expect(item.status).toBe(200);
    expect(item.json.id).toBe(body.id);
  });

  it('a token without any BitLocker permission gets 403 on list and item', async () => {
    const list = await get(listPath({ $filter: deviceFilter(body.deviceId!) }), noPermission);
    expect(expectGraphError(list, 403, 'authorization_error').message).toMatch(/BitLockerKey\.ReadBasic\.All/);
    const item = await get(`${COLLECTION}/${body.id}`, noPermission);
    expectGraphError(item, 403, 'authorization_error');
  });

  it('no token gets 401 with WWW-Authenticate: Bearer on list and item', async () => {
    for (const path of [listPath({ $filter: deviceFilter(body.deviceId!) }), `${COLLECTION}/${body.id}`]) {
      const response = await get(path, undefined);
      expectGraphError(response, 401, 'InvalidAuthenticationToken');
      expect(response.headers.get('www-authenticate')).toMatch(/^Bearer/);
    }
  });
});

describe('POST {collection}', () => {
  it.each([['/v1.0/informationProtection/bitlocker/recoveryKeys'], ['/bitlocker/recoveryKeys'], ['/beta/bitlocker/recoveryKeys']])(
    'POST %s answers 201 with the key and a Location on the same path form',
    async (collection) => {
      const body = keyBody();
      const response = await call('POST', collection, { token: writer, body });
      expect(response.status).toBe(201);
      expect(response.json).toMatchObject({ id: body.id, deviceId: body.deviceId, key: body.key, volumeType: 'operatingSystemVolume' });
      expect(response.headers.get('etag')).toBe(response.json['@odata.etag']);
      const location = response.headers.get('location');
      expect(location).toBe(`${baseUrl()}${collection}/${body.id}`);
      const fetched = await get(location!, reader);
      expect(fetched.status).toBe(200);
      expect(fetched.json.id).toBe(body.id);
    },
  );

  it('POST of an existing id is a 409 and leaves the stored key as it was', async () => {
    const original = keyBody();
    expect((await call('POST', COLLECTION, { token: writer, body: original })).status).toBe(201);
    const other = keyBody({ id: original.id, deviceId: newId(), key: recoveryPassword(), volumeType: 'fixedDataVolume' });
    const response = await call('POST', COLLECTION, { token: writer, body: other });
    expect(expectGraphError(response, 409, 'conflict').message).toMatch(/already exists/);
    const stored = await get(`${COLLECTION}/${original.id}?${WHOLE_KEY}`, reader);
    expect(stored.json).toMatchObject({
      id: original.id,
      deviceId: original.deviceId,
      key: original.key,
      volumeType: 'operatingSystemVolume',
    });
    const byOtherDevice = await get(listPath({ $filter: deviceFilter(other.deviceId!) }), reader);
    expect(byOtherDevice.json.value).toEqual([]);
  });

  it('POST of an existing id writes nothing: no index entry appears under the refused deviceId', async () => {
    const original = keyBody();
    expect((await call('POST', COLLECTION, { token: writer, body: original })).status).toBe(201);
    const other = keyBody({ id: original.id, deviceId: newId() });
    expectGraphError(await call('POST', COLLECTION, { token: writer, body: other }), 409, 'conflict');
    const rows = await keyRowsOf(original.id!);
    expect(rows.index.map((entry) => entry.partitionKey)).toEqual([original.deviceId]);
    // And so, once the key is deleted, nothing of it is left under either device (its record is kept, marked deleted).
    expect((await call('DELETE', `${COLLECTION}/${original.id}`, { token: writer })).status).toBe(204);
    expect(softDeleted(await keyRowsOf(original.id!))).toBe(true);
  });

  it.each([
    ['Read.All', () => reader],
    ['ReadBasic.All', () => basicReader],
  ])('POST needs ReadWrite.All: 403 for %s, and nothing is stored', async (_name, bearer) => {
    const body = keyBody();
    const response = await call('POST', COLLECTION, { token: bearer(), body });
    expectGraphError(response, 403, 'authorization_error');
    expect(await keyRowsOf(body.id!)).toEqual({ records: [], index: [] });
  });
});

/** A soft-deleted key's rows: its record alone, with deletedDateTime, and no device index entry. */
function softDeleted(rows: Awaited<ReturnType<typeof keyRowsOf>>): boolean {
  return rows.index.length === 0 && rows.records.length === 1 && typeof rows.records[0].deletedDateTime === 'string';
}

describe('DELETE {collection}/{id}', () => {
  it('204, and at once the key is gone from every lookup; storage keeps only its record, marked deleted', async () => {
    const deviceId = newId();
    const [gone, kept] = await escrowKeys(writer, keyBodies(2, { deviceId }));
    const before = await keyRowsOf(gone.id!);
    expect({ records: before.records.length, index: before.index.length }).toEqual({ records: 1, index: 1 });

    const response = await call('DELETE', `${COLLECTION}/${gone.id}`, { token: writer });
    expect(response.status).toBe(204);
    expect(response.text).toBe('');

    const [byId, byDevice, byPrefix, byIdFilter, stored] = await Promise.all([
      get(`${COLLECTION}/${gone.id}`, reader),
      get(listPath({ $filter: deviceFilter(deviceId) }), reader),
      get(listPath({ $filter: `startswith(id,'${gone.id!.slice(0, 8)}')` }), reader),
      get(listPath({ $filter: `id eq '${gone.id}'` }), reader),
      keyRowsOf(gone.id!),
    ]);
    expectGraphError(byId, 404, 'itemNotFound');
    expect(idsOf(byDevice)).toEqual([kept.id]);
    expect(idsOf(byPrefix)).not.toContain(gone.id);
    expect(byIdFilter.json.value).toEqual([]);
    expect(softDeleted(stored)).toBe(true);
  });

  it('DELETE again is a 404', async () => {
    const body = await escrow();
    expect((await call('DELETE', `/bitlocker/recoveryKeys/${body.id}`, { token: writer })).status).toBe(204);
    expectGraphError(await call('DELETE', `/bitlocker/recoveryKeys/${body.id}`, { token: writer }), 404, 'itemNotFound');
  });

  it.each([
    ['Read.All', () => reader],
    ['ReadBasic.All', () => basicReader],
  ])('DELETE needs ReadWrite.All: 403 for %s, and the key stays', async (_name, bearer) => {
    const body = await escrow();
    expectGraphError(await call('DELETE', `${COLLECTION}/${body.id}`, { token: bearer() }), 403, 'authorization_error');
    expect((await get(`${COLLECTION}/${body.id}`, reader)).status).toBe(200);
    const rows = await keyRowsOf(body.id!);
    expect({ records: rows.records.length, index: rows.index.length }).toEqual({ records: 1, index: 1 });
  });
});

describe('methods and headers', () => {
  it.each([
    [`${COLLECTION}/2d7b3c6a-8f0e-4b1d-9a53-0c2e7f1d4b6e`, 'GET, HEAD, PATCH, DELETE'],
    [COLLECTION, 'GET, HEAD, POST, PATCH'],
  ])('PUT %s is a 405 with Allow: %s', async (path, allow) => {
    const response = await call('PUT', path, { token: writer, body: keyBody() });
    expect(expectGraphError(response, 405, 'methodNotAllowed').message).toMatch(/PUT/);
    expect(response.headers.get('allow')).toBe(allow);
  });

  it('echoes client-request-id on a success and on an error', async () => {
    const clientRequestId = newId();
    const ok = await get(listPath({ $top: '1' }), reader, { 'client-request-id': clientRequestId });
    expect(ok.status).toBe(200);
    expect(ok.headers.get('client-request-id')).toBe(clientRequestId);
    expect(ok.headers.get('request-id')).toMatch(/^[0-9a-f-]{36}$/);
    const failed = await get(listPath({ $top: '0' }), reader, { 'client-request-id': clientRequestId });
    expectGraphError(failed, 400, 'badRequest');
    expect(failed.headers.get('client-request-id')).toBe(clientRequestId);
    expect(failed.json.error.innerError['client-request-id']).toBe(clientRequestId);
  });
});

describe('error messages never send a recovery password back', () => {
  it('masks a recovery password pasted where the key id belongs', async () => {
    const pasted = '496298-461032-321464-595518-463221-173943-033616-139579';
    const response = await call('GET', `/v1.0/bitlocker/recoveryKeys/${pasted}`, { token: await tokenWith(READ) });
    const error = expectGraphError(response, 400, 'badRequest');
    expect(error.message).toContain('[recovery password]');
    expect(response.text).not.toContain(pasted);
  });
});
