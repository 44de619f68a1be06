import { call, expectGraphError, READ_BASIC, token, tokenWith, WRITE } from '../support/client';
import { keyBody, newId } from '../support/fixtures';
import { entitiesMentioning, keyRowsOf, rawEntities } from '../support/storage';
import type { JWTHeaderParameters, JWTPayload } from 'jose';
import { TABLES } from '../../shared/storage/layout';

let writer: string;
beforeAll(async () => {
  writer = await tokenWith(WRITE);
});

const patch = (path: string, body: unknown, headers: Record<string, string> = {}) => call('PATCH', path, { token: writer, body, headers });

async function expectNothingStored(id: string): Promise<void> {
  expect(await entitiesMentioning(id)).toEqual([]);
}

describe('PATCH /bitlocker/recoveryKeys (the seed operation)', () => {
  it('stores a key with an id from the body and returns it with the key', async () => {
    const body = keyBody();
    const response = await patch('/bitlocker/recoveryKeys', body);
    expect(response.status).toBe(200);
    expect(response.json).toMatchObject({
      '@odata.type': '#microsoft.graph.bitlockerRecoveryKey',
      id: body.id,
      deviceId: body.deviceId,
      key: body.key,
      volumeType: 'operatingSystemVolume',
    });
    expect(response.json['@odata.context']).toMatch(/\/v1\.0\/\$metadata#informationProtection\/bitlocker\/recoveryKeys\/\$entity$/);
    expect(response.json.createdDateTime).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
    expect(response.headers.get('etag')).toBe(response.json['@odata.etag']);
    expect(response.headers.get('request-id')).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('creates a key with a server-generated id when the body has none', async () => {
    const { id: _none, ...body } = keyBody();
    const response = await patch('/bitlocker/recoveryKeys', body);
    expect(response.status).toBe(200);
    expect(response.json.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    const rows = await keyRowsOf(response.json.id);
    expect([rows.records.length, rows.index.length]).toEqual([1, 1]);
  });

  it("answers the seed document's literal example with a 400 naming each wrong property", async () => {
    const response = await patch('/bitlocker/recoveryKeys', {
      '@odata.type': '#microsoft.graph.bitlockerRecoveryKey',
      volumeType: 'String',
      deviceId: 'String',
      key: 'String',
    });
    const error = expectGraphError(response, 400, 'badRequest');
    expect(error.message).toMatch(/volumeType must be one of operatingSystemVolume/);
    expect(error.message).toMatch(/deviceId must be a GUID/);
    expect(error.message).toMatch(/key must be a 48-digit recovery password/);
  });

  it('repeating the same PATCH gives the same stored object and createdDateTime', async () => {
    const body = keyBody();
    const first = await patch('/bitlocker/recoveryKeys', body);
    const second = await patch('/bitlocker/recoveryKeys', body);
    expect(second.status).toBe(200);
    expect(second.json).toEqual(first.json);
    expect(second.headers.get('etag')).toBe(first.headers.get('etag'));
  });

  it('keeps createdDateTime when later PATCHes change other properties', async () => {
    const body = keyBody();
    const first = await patch('/bitlocker/recoveryKeys', body);
    const second = await patch(`/bitlocker/recoveryKeys/${body.id}`, { volumeType: 'fixedDataVolume' });
    expect(second.status).toBe(200);
    expect(second.json.createdDateTime).toBe(first.json.createdDateTime);
    expect(second.json.volumeType).toBe('fixedDataVolume');
    // The body carried no key, so the answer has none: a write never returns a stored password.
    expect(second.json).not.toHaveProperty('key');
    expect(second.headers.get('etag')).not.toBe(first.headers.get('etag'));
  });

  it('keeps a createdDateTime the client supplies on creation (imports keep their dates)', async () => {
    const body = keyBody({ createdDateTime: '2019-03-04T05:06:07+02:00' });
    const response = await patch('/bitlocker/recoveryKeys', body);
    expect(response.status).toBe(200);
    expect(response.json.createdDateTime).toBe('2019-03-04T03:06:07.000Z');
    const again = await patch(`/bitlocker/recoveryKeys/${body.id}`, { createdDateTime: '2019-03-04T03:06:07Z' });
    expect(again.status).toBe(200);
  });

  it('refuses to change createdDateTime once stored', async () => {
    const body = keyBody({ createdDateTime: '2020-01-01T00:00:00Z' });
    await patch('/bitlocker/recoveryKeys', body);
    const response = await patch(`/bitlocker/recoveryKeys/${body.id}`, { createdDateTime: '2021-01-01T00:00:00Z' });
    expect(expectGraphError(response, 400, 'badRequest').message).toMatch(/createdDateTime cannot change/);
    const stored = await patch(`/bitlocker/recoveryKeys/${body.id}`, {});
    expect(stored.json.createdDateTime).toBe('2020-01-01T00:00:00.000Z');
  });

  it('refuses a createdDateTime in the future and stores nothing', async () => {
    const body = keyBody({ createdDateTime: new Date(Date.now() + 60 * 60 * 1000).toISOString() });
    const response = await patch('/bitlocker/recoveryKeys', body);
    expect(expectGraphError(response, 400, 'badRequest').message).toMatch(/createdDateTime must not be in the future/);
    await expectNothingStored(body.id!);
  });

  it('accepts a createdDateTime a little ahead of our clock (clock skew)', async () => {
    const body = keyBody({ createdDateTime: new Date(Date.now() + 60 * 1000).toISOString() });
    expect((await patch('/bitlocker/recoveryKeys', body)).status).toBe(200);
  });
});

describe('PATCH {collection}/{id}', () => {
  it('creates the key when absent and merges given properties when present', async () => {
    const body = keyBody();
    const { id, ...rest } = body;
    const created = await patch(`/bitlocker/recoveryKeys/${id}`, rest);
    expect(created.status).toBe(200);
    expect(created.json.id).toBe(id);
    const merged = await patch(`/bitlocker/recoveryKeys/${id}`, { volumeType: 3 });
    expect(merged.json).toMatchObject({ id, deviceId: body.deviceId, volumeType: 'removableDataVolume' });
    expect(merged.json).not.toHaveProperty('key');
    // With the stored key in the body, the caller's own value is echoed.
    const withKey = await patch(`/bitlocker/recoveryKeys/${id}`, { volumeType: 3, key: body.key });
    expect(withKey.json).toMatchObject({ id, volumeType: 'removableDataVolume', key: body.key });
  });

  it('requires deviceId, key and volumeType when it creates, naming the missing ones', async () => {
    const id = newId();
    const response = await patch(`/bitlocker/recoveryKeys/${id}`, { volumeType: 1 });
    const error = expectGraphError(response, 400, 'badRequest');
    expect(error.message).toMatch(/deviceId is required/);
    expect(error.message).toMatch(/key is required/);
    expect(error.message).not.toMatch(/volumeType/);
    await expectNothingStored(id);
  });

  it('refuses a body id that differs from the URL id', async () => {
    const urlId = newId();
    const response = await patch(`/bitlocker/recoveryKeys/${urlId}`, keyBody());
    expect(expectGraphError(response, 400, 'badRequest').message).toMatch(/differs from the id in the URL/);
    await expectNothingStored(urlId);
  });

  it('accepts a body id equal to the URL id in another case and with braces', async () => {
    const id = newId();
    const response = await patch(`/bitlocker/recoveryKeys/{${id.toUpperCase()}}`, keyBody({ id: `{${id.toUpperCase()}}` }));
    expect(response.status).toBe(200);
    expect(response.json.id).toBe(id);
  });

  it('refuses a malformed id in the URL', async () => {
    const response = await patch('/bitlocker/recoveryKeys/not-a-guid', keyBody());
    expect(expectGraphError(response, 400, 'badRequest').message).toMatch(/not a valid recovery key id/);
  });

  it('moves the device index entry when the deviceId changes', async () => {
    const body = keyBody();
    await patch('/bitlocker/recoveryKeys', body);
    const otherDevice = newId();
    const response = await patch(`/bitlocker/recoveryKeys/${body.id}`, { deviceId: otherDevice });
    expect(response.json.deviceId).toBe(otherDevice);
    const index = await rawEntities(TABLES.deviceIndex, `RowKey eq '${body.id}'`);
    expect(index.map((e) => e.partitionKey)).toEqual([otherDevice]);
  });
});

describe('every path form', () => {
  const collections = ['bitlocker/recoveryKeys', 'informationProtection/bitlocker/recoveryKeys'];
  const forms = ['', '/v1.0', '/beta'].flatMap((version) => collections.map((path) => `${version}/${path}`));

  it.each(forms)('PATCH %s and %s/{id} both store the key', async (collection) => {
    const body = keyBody();
    const onCollection = await patch(collection, body);
    expect(onCollection.status).toBe(200);
    const version = collection.startsWith('/beta') ? 'beta' : 'v1.0';
    expect(onCollection.json['@odata.context']).toContain(`/${version}/$metadata#`);
    const onItem = await patch(`${collection}/${body.id}`, { volumeType: 2 });
    expect(onItem.status).toBe(200);
    expect(onItem.json.volumeType).toBe('fixedDataVolume');
  });

  it('matches path segments case-insensitively, as the Functions host does', async () => {
    expect((await patch('/V1.0/BitLocker/RecoveryKeys', keyBody())).status).toBe(200);
  });

  it("answers an unknown path with Graph's 404", async () => {
    const response = await call('GET', '/v1.0/bitlocker/somethingElse', { token: writer });
    expectGraphError(response, 404, 'itemNotFound');
  });

  it('answers an unsupported method with 405 and Allow', async () => {
    const response = await call('PUT', '/bitlocker/recoveryKeys', { token: writer, body: keyBody() });
    expectGraphError(response, 405, 'methodNotAllowed');
    expect(response.headers.get('allow')).toBe('GET, HEAD, POST, PATCH');
  });
});

describe('validation of the body', () => {
  const cases: [string, Record<string, unknown>, RegExp][] = [
    ['a deviceId that is not a GUID', { deviceId: '1234' }, /deviceId must be a GUID/],
    ['a key with 7 groups', { key: '111111-222222-333333-444444-555555-666666-777777' }, /48-digit/],
    ['a key with letters', { key: '11111a-111111-111111-111111-111111-111111-111111-111111' }, /48-digit/],
    [
      'a key whose group is not divisible by 11',
      { key: '496298-461032-321464-595518-463221-173943-033616-139570' },
      /group 8 must be divisible by 11/,
    ],
    [
      'a key whose group is 720896 or more',
      { key: '720896-461032-321464-595518-463221-173943-033616-139579' },
      /group 1 must be divisible by 11 and below 720896/,
    ],
    ['a key given as a number', { key: 496298 }, /key must be a string/],
    ['a key with Arabic-Indic digits', { key: '٤٩٦٢٩٨-461032-321464-595518-463221-173943-033616-139579' }, /48-digit/],
    ['a volumeType name in the wrong case', { volumeType: 'OperatingSystemVolume' }, /volumeType must be one of/],
    ['a volumeType number out of range', { volumeType: 5 }, /volumeType must be one of/],
    ['a volumeType of 0', { volumeType: '0' }, /volumeType must be one of/],
    ['a volumeType of the wrong type', { volumeType: true }, /volumeType must be one of/],
    ['a wrong @odata.type', { '@odata.type': '#microsoft.graph.user' }, /@odata.type must be #microsoft.graph.bitlockerRecoveryKey/],
    ['an unknown property', { isAdmin: true }, /isAdmin is not a property of bitlockerRecoveryKey/],
    [
      'a prototype-polluting property',
      JSON.parse('{"__proto__": {"x": 1}}') as Record<string, unknown>,
      /__proto__ is not a property of bitlockerRecoveryKey/,
    ],
    ['a createdDateTime without a time zone', { createdDateTime: '2024-01-01T00:00:00' }, /createdDateTime must be an ISO 8601/],
    ['a createdDateTime that is not a date', { createdDateTime: 'yesterday' }, /createdDateTime must be an ISO 8601/],
    ['an impossible createdDateTime', { createdDateTime: '2024-02-30T00:00:00Z' }, /createdDateTime must be an ISO 8601/],
  ];

  it.each(cases)('refuses %s with a 400 naming it, and stores nothing', async (_name, override, message) => {
    const body = keyBody(override);
    const response = await patch('/bitlocker/recoveryKeys', body);
    expect(expectGraphError(response, 400, 'badRequest').message).toMatch(message);
    await expectNothingStored(body.id!);
  });

  it('refuses an id that is not a GUID and stores nothing for its device', async () => {
    const body = keyBody({ id: 'abc' });
    const response = await patch('/bitlocker/recoveryKeys', body);
    expect(expectGraphError(response, 400, 'badRequest').message).toMatch(/id must be a GUID/);
    expect(await rawEntities(TABLES.deviceIndex, `PartitionKey eq '${body.deviceId}'`)).toEqual([]);
  });

  it.each([
    [1, 'operatingSystemVolume'],
    ['2', 'fixedDataVolume'],
    [3, 'removableDataVolume'],
    ['4', 'unknownFutureValue'],
    ['removableDataVolume', 'removableDataVolume'],
  ])('stores volumeType %p as %s', async (given, stored) => {
    const response = await patch('/bitlocker/recoveryKeys', keyBody({ volumeType: given }));
    expect(response.status).toBe(200);
    expect(response.json.volumeType).toBe(stored);
  });

  it('refuses a body that is not JSON', async () => {
    const response = await call('PATCH', '/bitlocker/recoveryKeys', {
      token: writer,
      rawBody: '{"id": ',
      headers: { 'Content-Type': 'application/json' },
    });
    expect(expectGraphError(response, 400, 'badRequest').message).toMatch(/not valid JSON/);
  });

  it('refuses a JSON array body', async () => {
    const response = await patch('/bitlocker/recoveryKeys', [keyBody()]);
    expect(expectGraphError(response, 400, 'badRequest').message).toMatch(/must be a JSON object/);
  });

  it('refuses an empty body', async () => {
    const response = await call('PATCH', '/bitlocker/recoveryKeys', {
      token: writer,
      rawBody: '',
      headers: { 'Content-Type': 'application/json' },
    });
    expect(expectGraphError(response, 400, 'badRequest').message).toMatch(/empty/);
  });

  it('refuses a body without a JSON content type with 415', async () => {
    const body = keyBody();
    const response = await call('PATCH', '/bitlocker/recoveryKeys', {
      token: writer,
      rawBody: JSON.stringify(body),
      headers: { 'Content-Type': 'text/plain' },
    });
    expectGraphError(response, 415, 'unsupportedMediaType');
    await expectNothingStored(body.id!);
  });

  it('refuses a body over 16 KiB with 413', async () => {
    const body = keyBody({ padding: 'x'.repeat(17 * 1024) });
    const response = await patch('/bitlocker/recoveryKeys', body);
    expectGraphError(response, 413, 'requestEntityTooLarge');
    await expectNothingStored(body.id!);
  });
});

describe('tokens and permissions', () => {
  const body = () => keyBody();

  it.each([
    ['no Authorization header', () => Promise.resolve(undefined)],
    ['a garbage token', () => Promise.resolve('not.a.token')],
    ['an expired token', () => token({ roles: [WRITE], expiresIn: -3600 })],
    ['a token for another audience', () => token({ roles: [WRITE], claims: { aud: 'api://someone-else' } })],
    ['a token from another issuer', () => token({ roles: [WRITE], claims: { iss: 'https://login.microsoftonline.com/evil/v2.0' } })],
  ])('answers %s with 401 and WWW-Authenticate, storing nothing', async (_name, makeToken) => {
    const b = body();
    const response = await call('PATCH', '/bitlocker/recoveryKeys', { token: await makeToken(), body: b });
    expectGraphError(response, 401, 'InvalidAuthenticationToken');
    expect(response.headers.get('www-authenticate')).toBe('Bearer');
    await expectNothingStored(b.id!);
  });

  it('answers a token signed by another key with 401', async () => {
    const { generateKeyPair, SignJWT } = await import('jose');
    const { privateKey } = await generateKeyPair('RS256');
    const valid = await token({ roles: [WRITE] });
    const claims = JSON.parse(Buffer.from(valid.split('.')[1], 'base64url').toString()) as JWTPayload;
    const header = JSON.parse(Buffer.from(valid.split('.')[0], 'base64url').toString()) as JWTHeaderParameters;
    const forged = await new SignJWT(claims).setProtectedHeader(header).sign(privateKey);
    const b = body();
    const response = await call('PATCH', '/bitlocker/recoveryKeys', { token: forged, body: b });
    expect(expectGraphError(response, 401, 'InvalidAuthenticationToken').message).toMatch(/signature/);
    await expectNothingStored(b.id!);
  });

  it('answers an unsigned alg "none" token with 401', async () => {
    const valid = await token({ roles: [WRITE] });
    const header = Buffer.from(JSON.stringify({ alg: 'none', typ: 'JWT' })).toString('base64url');
    const unsigned = `${header}.${valid.split('.')[1]}.`;
    const b = body();
    const response = await call('PATCH', '/bitlocker/recoveryKeys', { token: unsigned, body: b });
    expectGraphError(response, 401, 'InvalidAuthenticationToken');
    await expectNothingStored(b.id!);
  });

  it('answers a valid token without the write permission with 403, storing nothing', async () => {
    const b = body();
    const response = await call('PATCH', '/bitlocker/recoveryKeys', { token: await tokenWith(READ_BASIC), body: b });
    expect(expectGraphError(response, 403, 'authorization_error').message).toMatch(/BitLockerKey.ReadWrite.All/);
    await expectNothingStored(b.id!);
  });

  it('accepts the permission as a delegated scope in any case', async () => {
    const response = await call('PATCH', '/bitlocker/recoveryKeys', {
      token: await token({ scopes: ['User.Read', 'BitlockerKey.ReadWrite.All'] }),
      body: body(),
    });
    expect(response.status).toBe(200);
  });

  it('checks the token before the body (401 beats 400)', async () => {
    const response = await call('PATCH', '/bitlocker/recoveryKeys', { body: { nonsense: true } });
    expectGraphError(response, 401, 'InvalidAuthenticationToken');
  });
});

describe('correlation headers', () => {
  it('echoes client-request-id on success and in errors', async () => {
    const clientRequestId = newId();
    const ok = await patch('/bitlocker/recoveryKeys', keyBody(), { 'client-request-id': clientRequestId });
    expect(ok.headers.get('client-request-id')).toBe(clientRequestId);
    const failed = await patch('/bitlocker/recoveryKeys', { bogus: 1 }, { 'client-request-id': clientRequestId });
    expect(failed.json.error.innerError['client-request-id']).toBe(clientRequestId);
  });
});

describe('error messages stay bounded', () => {
  it('names the first ten problems of a body with many and counts the rest', async () => {
    const writer = await tokenWith(WRITE);
    const body: Record<string, unknown> = keyBody();
    for (let i = 0; i < 40; i++) body[`unknown${i}`] = i;
    const response = await call('PATCH', '/bitlocker/recoveryKeys', { token: writer, body });
    const error = expectGraphError(response, 400, 'badRequest');
    expect(error.message.match(/is not a property of bitlockerRecoveryKey/g)).toHaveLength(10);
    expect(error.message).toMatch(/and 30 more problems$/);
  });
});
