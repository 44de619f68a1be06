import { expect } from '@jest/globals';
import * as zlib from 'node:zlib';
import { AUDIT_READ, auditsPath, newOid, type DirectoryAudit } from '../support/audit';
import { baseUrl, call, expectGraphError, READ, READ_BASIC, token, tokenWith, WRITE, type GraphJson } from '../support/client';
import { keyBody } from '../support/fixtures';
import { COLLECTION_PATHS, VERSION_PREFIXES } from '../support/arbitraries';
import { entitiesMentioning, rawTable } from '../support/storage';
import { RECORD_ROW, TABLES } from '../../shared/storage/layout';

// What real Graph clients send, found in public bug reports against Graph, the Functions host and OData
// clients: each kind of value or request checked on every path form and method it applies to.

/** Every collection path: both of Graph's, without a version prefix and under /v1.0 and /beta. */
const COLLECTIONS = VERSION_PREFIXES.flatMap((version) => COLLECTION_PATHS.map((path) => version + path));
/** Every write that carries a body, on every collection path: [method, collection, whether to the item]. */
const writes = COLLECTIONS.flatMap(
  (collection) =>
    [
      ['PATCH', collection, true],
      ['PATCH', collection, false],
      ['POST', collection, false],
    ] as const,
);

let writer: string;
let reader: string;
let basic: string;
let auditor: string;
beforeAll(async () => {
  [writer, reader, basic, auditor] = await Promise.all([
    tokenWith(WRITE),
    token({ roles: [READ], claims: { oid: newOid() } }),
    tokenWith(READ_BASIC),
    tokenWith(AUDIT_READ),
  ]);
});

/** A key stored with PATCH; its body as sent and the stored answer. */
async function escrowed(overrides: Record<string, unknown> = {}) {
  const body = keyBody(overrides);
  const response = await call('PATCH', `/bitlocker/recoveryKeys/${body.id}`, { token: writer, body });
  expect(response.status).toBe(200);
  return { body, stored: response.json };
}

const RANGE = 'between 0001-01-01T00:00:00Z and 9999-12-31T23:59:59.9999999Z (UTC, after applying the offset)';

describe('1. date-times: valid Edm.DateTimeOffset in .NET range, in and out', () => {
  it.each(writes)(
    '%s %s (item: %s) refuses 0001-01-01T00:00:00+13:00 with a 400 naming the property and the range, storing nothing',
    async (method, collection, item) => {
      const body = keyBody({ createdDateTime: '0001-01-01T00:00:00+13:00' });
      const response = await call(method, item ? `${collection}/${body.id}` : collection, { token: writer, body });
      expect(expectGraphError(response, 400, 'badRequest').message).toBe(`createdDateTime must be ${RANGE}`);
      expect(await entitiesMentioning(body.id!)).toEqual([]);
    },
  );

  it('accepts the bounds and offsets that stay in range, and returns them in UTC with milliseconds', async () => {
    const first = await escrowed({ createdDateTime: '0001-01-01T13:00:00+13:00' });
    expect(first.stored.createdDateTime).toBe('0001-01-01T00:00:00.000Z');
    const second = await escrowed({ createdDateTime: '2019-03-04T05:06:07.1234567-14:00' });
    expect(second.stored.createdDateTime).toBe('2019-03-04T19:06:07.123Z');
    const read = await call('GET', `/v1.0/informationProtection/bitlocker/recoveryKeys/${first.body.id}`, { token: basic });
    expect(read.json.createdDateTime).toBe('0001-01-01T00:00:00.000Z');
  });

  it('writes a record stored before the range was enforced as the nearest bound, so the device list stays readable', async () => {
    const { body } = await escrowed();
    const records = rawTable(TABLES.recoveryKeys);
    const record = await records.getEntity<Record<string, unknown>>(body.id!, RECORD_ROW);
    await records.updateEntity({ partitionKey: body.id!, rowKey: RECORD_ROW, createdDateTime: '0000-12-31T11:00:00.000Z' }, 'Merge');
    expect(record.createdDateTime).not.toBe('0000-12-31T11:00:00.000Z');
    // As an earlier version stored it: a device index entry without metadata, so the list reads the record.
    await rawTable(TABLES.deviceIndex).upsertEntity({ partitionKey: body.deviceId!, rowKey: body.id! }, 'Replace');
    const one = await call('GET', `/beta/bitlocker/recoveryKeys/${body.id}`, { token: basic });
    expect(one.json.createdDateTime).toBe('0001-01-01T00:00:00.000Z');
    const list = await call('GET', `/v1.0/bitlocker/recoveryKeys?$filter=${encodeURIComponent(`deviceId eq '${body.deviceId}'`)}`, {
      token: basic,
    });
    expect(list.json.value.map((item) => item.createdDateTime)).toEqual(['0001-01-01T00:00:00.000Z']);
  });

  it.each(['', '/v1.0', '/beta'])(
    '%s/auditLogs/directoryAudits: $filter times out of range are a 400 naming activityDateTime and the range',
    async (version) => {
      for (const literal of ['0001-01-01T00:00:00+13:00', '0000-06-01T00:00:00Z', '9999-12-31T23:59:59-01:00']) {
        const response = await call(
          'GET',
          `${version}/auditLogs/directoryAudits?$filter=${encodeURIComponent(`activityDateTime ge ${literal}`)}`,
          { token: auditor },
        );
        expect(expectGraphError(response, 400, 'badRequest').message).toMatch(
          `Invalid $filter: activityDateTime must be compared with a date and time ${RANGE}.`,
        );
      }
      const impossible = await call(
        'GET',
        `${version}/auditLogs/directoryAudits?$filter=${encodeURIComponent('activityDateTime le 2024-02-30T00:00:00Z')}`,
        { token: auditor },
      );
      expect(expectGraphError(impossible, 400, 'badRequest').message).toMatch("'2024-02-30T00:00:00Z' is not a valid date and time");
    },
  );

  it('audit $filter takes offsets, applied before comparing, and answers times in the one output form', async () => {
    const { body } = await escrowed();
    const path = (condition: string) => auditsPath({ $filter: `targetResources/any(t:t/id eq '${body.id}') and ${condition}` });
    const now = Date.now();
    // An hour ahead in +01:00 is now in UTC: the write is inside [now - 1 min, now + 1 min] written either way.
    const local = (ms: number) => new Date(ms + 3_600_000).toISOString().slice(0, 19) + '+01:00';
    const within = await call('GET', path(`activityDateTime ge ${local(now - 60_000)} and activityDateTime le ${local(now + 60_000)}`), {
      token: auditor,
    });
    expect(within.status).toBe(200);
    expect(within.json.value.length).toBe(1);
    expect(within.json.value[0].activityDateTime).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
    const before = await call('GET', path(`activityDateTime le ${local(now - 60_000)}`), { token: auditor });
    expect(before.json.value).toEqual([]);
  });
});

describe('2. $select on a single key is applied', () => {
  const entityContext = (collection: string, select: string): string => {
    const version = /^\/(v1\.0|beta)\//.exec(collection)?.[1] ?? 'v1.0';
    return `${baseUrl()}/${version}/$metadata#informationProtection/bitlocker/recoveryKeys(${select})/$entity`;
  };

  it.each(COLLECTIONS)(
    '%s/{id}?$select=id: only id, with @odata.context ending recoveryKeys(id)/$entity and @odata.etag',
    async (collection) => {
      const { body } = await escrowed();
      const response = await call('GET', `${collection}/${body.id}?$select=id`, { token: basic });
      expect(response.json).toEqual({
        '@odata.context': entityContext(collection, 'id'),
        '@odata.etag': response.headers.get('etag'),
        '@odata.type': '#microsoft.graph.bitlockerRecoveryKey',
        id: body.id,
      });
    },
  );

  it.each(COLLECTIONS)(
    '%s/{id}?$select=key,id,deviceId: those three to Read.All, not volumeType or createdDateTime',
    async (collection) => {
      const { body } = await escrowed();
      const response = await call('GET', `${collection}/${body.id}?$select=key,id,deviceId`, { token: reader });
      expect(response.json).toEqual({
        '@odata.context': entityContext(collection, 'key,id,deviceId'),
        '@odata.etag': response.headers.get('etag'),
        '@odata.type': '#microsoft.graph.bitlockerRecoveryKey',
        // Instance annotations of the first reveal (ROTATE_AFTER_REVEAL), beside the selected properties.
        '@escrow.disclosedDateTime': expect.any(String),
        '@escrow.disclosedBy': expect.any(String),
        key: body.key,
        id: body.id,
        deviceId: body.deviceId,
      });
    },
  );

  it('names each selected property once, in the order first given, as the list does', async () => {
    const { body } = await escrowed();
    const one = await call('GET', `/v1.0/bitlocker/recoveryKeys/${body.id}?$select=volumeType,id,volumeType`, { token: basic });
    expect(Object.keys(one.json)).toEqual(['@odata.context', '@odata.etag', '@odata.type', 'volumeType', 'id']);
    expect(one.json['@odata.context']).toMatch(/recoveryKeys\(volumeType,id\)\/\$entity$/);
    const list = await call(
      'GET',
      `/v1.0/bitlocker/recoveryKeys?$select=volumeType,id,volumeType&$filter=${encodeURIComponent(`id eq '${body.id}'`)}`,
      { token: basic },
    );
    expect(list.json['@odata.context']).toMatch(/recoveryKeys\(volumeType,id\)$/);
    expect(Object.keys(list.json.value[0])).toEqual(['@odata.type', 'volumeType', 'id']);
  });

  it('selecting key still needs Read.All, whatever else is selected', async () => {
    const { body } = await escrowed();
    const response = await call('GET', `/beta/bitlocker/recoveryKeys/${body.id}?$select=id,key`, { token: basic });
    expectGraphError(response, 403, 'authorization_error');
    expect(response.text).not.toContain(body.key);
  });
});

describe('5. OData instance annotations in a request body', () => {
  /** A stored key and the object a metadata read answers for it (annotations and all). */
  async function readBack() {
    const { body } = await escrowed();
    const read = await call('GET', `/v1.0/informationProtection/bitlocker/recoveryKeys/${body.id}`, { token: basic });
    expect(read.status).toBe(200);
    return { body, read: read.json };
  }

  const targets = COLLECTIONS.flatMap(
    (collection) =>
      [
        [collection, true],
        [collection, false],
      ] as const,
  );

  it.each(targets)(
    'PATCH %s (item: %s) takes back the object it read, @odata.context and @odata.etag included',
    async (collection, item) => {
      const { body, read } = await readBack();
      const response = await call('PATCH', item ? `${collection}/${body.id}` : collection, {
        token: writer,
        body: { ...read, volumeType: 'fixedDataVolume' },
      });
      expect(response.status).toBe(200);
      expect(response.json).toMatchObject({
        id: body.id,
        deviceId: body.deviceId,
        volumeType: 'fixedDataVolume',
        createdDateTime: read.createdDateTime,
      });
      expect(response.json['@odata.etag']).not.toBe(read['@odata.etag']);
    },
  );

  it.each(targets)('PATCH %s (item: %s) with a stale @odata.etag is a 412 and changes nothing', async (collection, item) => {
    const { body, read } = await readBack();
    expect((await call('PATCH', `/bitlocker/recoveryKeys/${body.id}`, { token: writer, body: { volumeType: 2 } })).status).toBe(200);
    const stale = await call('PATCH', item ? `${collection}/${body.id}` : collection, {
      token: writer,
      body: { ...read, volumeType: 'removableDataVolume' },
    });
    expect(expectGraphError(stale, 412, 'preconditionFailed').message).toBe(
      'The recovery key has changed since the ETag given in If-Match.',
    );
    const now = await call('GET', `/v1.0/bitlocker/recoveryKeys/${body.id}`, { token: basic });
    expect(now.json.volumeType).toBe('fixedDataVolume');
  });

  it('@odata.etag and If-Match: equal is fine, * is implied by the ETag, two different ETags are a 412', async () => {
    const { body, read } = await readBack();
    const path = `/beta/bitlocker/recoveryKeys/${body.id}`;
    const etag = read['@odata.etag'];
    const same = await call('PATCH', path, { token: writer, body: { '@odata.etag': etag, volumeType: 2 }, headers: { 'If-Match': etag } });
    expect(same.status).toBe(200);
    const fresh = same.json['@odata.etag'];
    const starAndStale = await call('PATCH', path, {
      token: writer,
      body: { '@odata.etag': etag, volumeType: 3 },
      headers: { 'If-Match': '*' },
    });
    expect(expectGraphError(starAndStale, 412, 'preconditionFailed').message).toMatch(/has changed since the ETag/);
    const differing = await call('PATCH', path, {
      token: writer,
      body: { '@odata.etag': etag, volumeType: 3 },
      headers: { 'If-Match': fresh },
    });
    expect(expectGraphError(differing, 412, 'preconditionFailed').message).toBe(
      'If-Match and @odata.etag name different versions of the recovery key; no version can match both.',
    );
    const starAndFresh = await call('PATCH', path, {
      token: writer,
      body: { '@odata.etag': fresh, volumeType: 3 },
      headers: { 'If-Match': '*' },
    });
    expect(starAndFresh.json.volumeType).toBe('removableDataVolume');
    // On a key that does not exist, an @odata.etag is an If-Match that cannot hold: nothing is created.
    const absent = keyBody();
    const created = await call('PATCH', `/bitlocker/recoveryKeys/${absent.id}`, {
      token: writer,
      body: { ...absent, '@odata.etag': etag },
    });
    expectGraphError(created, 412, 'preconditionFailed');
    expect(await entitiesMentioning(absent.id!)).toEqual([]);
  });

  it.each(COLLECTIONS)('POST %s ignores @odata.context, @odata.etag and unknown @odata.* annotations', async (collection) => {
    const body = keyBody();
    const response = await call('POST', collection, {
      token: writer,
      body: {
        '@odata.context': 'https://graph.microsoft.com/v1.0/$metadata#x/$entity',
        '@odata.etag': 'W/"stale"',
        '@odata.id': 'x',
        ...body,
      },
    });
    expect(response.status).toBe(201);
    expect(response.json).toMatchObject({ id: body.id, deviceId: body.deviceId });
  });

  it.each([
    ['@odata.id', 'https://example.invalid/x'],
    ['@odata.editLink', 'recoveryKeys/x'],
    ['@odata.nextLink', 42],
    ['@odata.count', { nested: true }],
    ['@odata.context', null],
  ])('ignores the annotation %s whatever its value', async (name, value) => {
    const body = keyBody();
    const response = await call('PATCH', `/v1.0/bitlocker/recoveryKeys/${body.id}`, { token: writer, body: { ...body, [name]: value } });
    expect(response.status).toBe(200);
    expect(response.json).not.toHaveProperty(name);
  });

  it.each([
    [
      '@odata.type of another type',
      { '@odata.type': '#microsoft.graph.user' },
      '@odata.type must be #microsoft.graph.bitlockerRecoveryKey',
    ],
    [
      'a case slip of @odata.etag',
      { '@odata.ETag': 'W/"x"' },
      '@odata.ETag is not an annotation of this service; names are case-sensitive: @odata.context, @odata.etag, @odata.type',
    ],
    ['a case slip of the namespace', { '@ODATA.etag': 'W/"x"' }, /^@ODATA\.etag is not a property of bitlockerRecoveryKey/],
    ['a property annotation', { 'key@odata.type': '#String' }, /^key@odata\.type is not a property of bitlockerRecoveryKey/],
    [
      'an annotation of another namespace',
      { '@microsoft.graph.conflictBehavior': 'replace' },
      /^@microsoft\.graph\.conflictBehavior is not a property/,
    ],
    [
      'an unknown property beside annotations',
      { '@odata.context': 'x', recoveryPassword: 'x' },
      /^recoveryPassword is not a property of bitlockerRecoveryKey/,
    ],
    [
      'an @odata.etag that is not a string',
      { '@odata.etag': 1 },
      '@odata.etag must be a string: the @odata.etag (or ETag header) of a read',
    ],
    ['an empty @odata.etag', { '@odata.etag': '' }, '@odata.etag must be the @odata.etag (or ETag header) of a read, not empty'],
  ])('refuses %s by name, storing nothing', async (_what, extra, message) => {
    const body = keyBody();
    const response = await call('PATCH', `/bitlocker/recoveryKeys/${body.id}`, { token: writer, body: { ...body, ...extra } });
    const error = expectGraphError(response, 400, 'badRequest');
    if (typeof message === 'string') expect(error.message).toBe(message);
    else expect(error.message).toMatch(message);
    expect(await entitiesMentioning(body.id!)).toEqual([]);
  });
});

describe('4. Content-Encoding of request bodies', () => {
  const send = (method: string, path: string, bytes: Uint8Array, encoding?: string) =>
    fetch(new URL(path, baseUrl()), {
      method,
      headers: {
        Authorization: `Bearer ${writer}`,
        'Content-Type': 'application/json',
        ...(encoding !== undefined && { 'Content-Encoding': encoding }),
      },
      body: new Uint8Array(bytes),
    }).then(async (response) => ({ status: response.status, headers: response.headers, json: (await response.json()) as GraphJson }));
  const json = (body: unknown): Buffer => Buffer.from(JSON.stringify(body));

  it.each(writes)('%s %s (item: %s): gzip, deflate and br bodies are decoded and stored', async (method, collection, item) => {
    for (const [encoding, encode] of [
      ['gzip', zlib.gzipSync],
      ['deflate', zlib.deflateSync],
      ['br', zlib.brotliCompressSync],
    ] as const) {
      const body = keyBody();
      const response = await send(method, item ? `${collection}/${body.id}` : collection, encode(json(body)), encoding);
      expect({ encoding, status: response.status, id: response.json.id }).toEqual({
        encoding,
        status: method === 'POST' ? 201 : 200,
        id: body.id,
      });
    }
  });

  it.each(writes)('%s %s (item: %s): plain JSON labelled gzip is a 400 and stores nothing', async (method, collection, item) => {
    const body = keyBody();
    const response = await send(method, item ? `${collection}/${body.id}` : collection, json(body), 'gzip');
    expect({ status: response.status, message: response.json.error.message }).toEqual({
      status: 400,
      message: 'The request body is not valid gzip data, as its Content-Encoding says.',
    });
    expect(await entitiesMentioning(body.id!)).toEqual([]);
  });

  it.each(['compress', 'zstd', 'x-custom', 'gzip, zstd', 'zstd, gzip'])(
    'Content-Encoding %s: 415 naming the coding, with Accept-Encoding, storing nothing',
    async (encoding) => {
      const body = keyBody();
      const response = await send('PATCH', `/v1.0/bitlocker/recoveryKeys/${body.id}`, zlib.gzipSync(json(body)), encoding);
      expect(response.status).toBe(415);
      const named = encoding.split(', ').find((coding) => coding !== 'gzip');
      expect(response.json.error).toMatchObject({
        code: 'unsupportedMediaType',
        message: `The content coding '${named}' is not supported; send the body as is, or with Content-Encoding gzip, deflate or br.`,
      });
      expect(response.headers.get('accept-encoding')).toBe('gzip, deflate, br, identity');
      expect(await entitiesMentioning(body.id!)).toEqual([]);
    },
  );

  it('more than two codings: 415 before any is decoded (a thousand nested br layers held the event loop)', async () => {
    const body = keyBody();
    let bytes = json(body);
    for (let i = 0; i < 3; i++) bytes = zlib.brotliCompressSync(bytes);
    const response = await send('PATCH', `/v1.0/bitlocker/recoveryKeys/${body.id}`, bytes, 'br, br, br');
    expect({ status: response.status, error: response.json.error }).toMatchObject({
      status: 415,
      error: { code: 'unsupportedMediaType', message: expect.stringContaining('at most 2 are accepted') as unknown },
    });
    expect(await entitiesMentioning(body.id!)).toEqual([]);
  });

  it('identity, any case, several codings (undone last first) and empty list members are understood', async () => {
    for (const [encoding, encode] of [
      ['identity', (b: Buffer) => b],
      ['GZIP', zlib.gzipSync],
      ['x-gzip', zlib.gzipSync],
      ['deflate, gzip', (b: Buffer) => zlib.gzipSync(zlib.deflateSync(b))],
      [' , identity, br ,', zlib.brotliCompressSync],
    ] as const) {
      const body = keyBody();
      const response = await send('PATCH', `/beta/bitlocker/recoveryKeys/${body.id}`, encode(json(body)), encoding);
      expect({ encoding, status: response.status }).toEqual({ encoding, status: 200 });
    }
  });

  it('the 16 KiB limit applies to the decoded body: a small gzip that inflates past it is a 413, a bomb too, promptly', async () => {
    const padded = Buffer.from(JSON.stringify(keyBody()).slice(0, -1) + ' '.repeat(17 * 1024) + '}');
    const inflated = await send('PATCH', '/bitlocker/recoveryKeys', zlib.gzipSync(padded), 'gzip');
    expect({ status: inflated.status, message: inflated.json.error.message }).toEqual({
      status: 413,
      message: 'The request body must not exceed 16384 bytes.',
    });
    // 15 MB of spaces: about 15 KB of gzip, under the limit as sent.
    const bomb = zlib.gzipSync(Buffer.concat([Buffer.from('{"id":"'), Buffer.alloc(15_000_000, 0x20), Buffer.from('"}')]), { level: 9 });
    expect(bomb.length).toBeLessThan(16 * 1024);
    const started = Date.now();
    const exploded = await send('POST', '/v1.0/bitlocker/recoveryKeys', bomb, 'gzip');
    expect(exploded.status).toBe(413);
    expect(Date.now() - started).toBeLessThan(2000);
  });
});

describe('3. HEAD: the GET status and headers, no body', () => {
  /** The headers a HEAD must share with its GET (request-id is per request, so only its shape). */
  const shared = (response: { status: number; headers: Headers; text: string }) => ({
    status: response.status,
    contentType: response.headers.get('content-type'),
    contentLength: response.headers.get('content-length'),
    etag: response.headers.get('etag'),
    cacheControl: response.headers.get('cache-control'),
  });

  async function expectHeadLikeGet(path: string, bearer: string | undefined): Promise<void> {
    const get = await call('GET', path, { token: bearer });
    const head = await call('HEAD', path, { token: bearer });
    expect(shared(head)).toEqual(shared(get));
    expect(Number(head.headers.get('content-length'))).toBe(Buffer.byteLength(get.text));
    expect(head.text).toBe('');
    expect(head.headers.get('request-id')).toMatch(/^[0-9a-f-]{36}$/);
    expect(head.headers.get('request-id')).not.toBe(get.headers.get('request-id'));
  }

  it.each(COLLECTIONS)('HEAD %s and its items: as GET, for a key, an absent key, a filter and a bad filter', async (collection) => {
    const { body } = await escrowed();
    await expectHeadLikeGet(`${collection}/${body.id}`, basic);
    await expectHeadLikeGet(`${collection}/${body.id}?$select=id,deviceId`, basic);
    await expectHeadLikeGet(`${collection}/${keyBody().id}`, basic);
    await expectHeadLikeGet(`${collection}?$filter=${encodeURIComponent(`deviceId eq '${body.deviceId}'`)}`, basic);
    await expectHeadLikeGet(`${collection}?$filter=nonsense`, basic);
    await expectHeadLikeGet(`${collection}/${body.id}`, undefined);
  });

  it.each(['', '/v1.0', '/beta'])('HEAD %s/auditLogs/directoryAudits, and /openapi.json: as GET', async (version) => {
    // The trail is shared with every other test file's host traffic: a page of this test's own key's
    // events (two, so that $top=1 has a next link) stays the same between the GET and the HEAD.
    const { body } = await escrowed();
    await escrowed({ id: body.id, deviceId: body.deviceId, volumeType: body.volumeType, key: body.key });
    const filter = encodeURIComponent(`targetResources/any(t:t/id eq '${body.id}')`);
    const path = `${version}/auditLogs/directoryAudits?$filter=${filter}&$top=1`;
    const page = await call('GET', path, { token: auditor });
    expect({ items: (page.json.value as unknown[]).length, next: typeof page.json['@odata.nextLink'] }).toEqual({
      items: 1,
      next: 'string',
    });
    await expectHeadLikeGet(path, auditor);
    await expectHeadLikeGet(`${version}/auditLogs/directoryAudits`, basic);
    await expectHeadLikeGet('/openapi.json', undefined);
  });

  it('HEAD with $select=key is refused, reveals nothing and is not audited as a read', async () => {
    const { body } = await escrowed();
    for (const collection of COLLECTIONS) {
      const head = await call('HEAD', `${collection}/${body.id}?$select=key`, { token: reader });
      expect({ status: head.status, text: head.text, etag: head.headers.get('etag') }).toEqual({ status: 400, text: '', etag: null });
    }
    const audits = await call(
      'GET',
      auditsPath({ $filter: `targetResources/any(t:t/id eq '${body.id}') and activityDisplayName eq 'Read BitLocker key'` }),
      { token: auditor },
    );
    expect(audits.json.value).toEqual([]);
  });

  it('lists HEAD in Allow wherever GET is, and the local host registers what the handlers dispatch', async () => {
    const allows = await Promise.all([
      call('PUT', '/v1.0/bitlocker/recoveryKeys', { token: writer }),
      call('PUT', `/v1.0/bitlocker/recoveryKeys/${keyBody().id}`, { token: writer }),
      call('DELETE', '/beta/auditLogs/directoryAudits', { token: auditor }),
      call('POST', '/openapi.json'),
    ]);
    expect(allows.map((r) => [r.status, r.headers.get('allow')])).toEqual([
      [405, 'GET, HEAD, POST, PATCH'],
      [405, 'GET, HEAD, PATCH, DELETE'],
      [405, 'GET, HEAD'],
      [405, 'GET, HEAD'],
    ]);
  });
});

describe("6. query options without '$' on /beta", () => {
  const BETA = COLLECTIONS.filter((c) => c.startsWith('/beta/'));
  const OTHERS = COLLECTIONS.filter((c) => !c.startsWith('/beta/'));

  it.each(BETA)('%s: filter, top, select and skiptoken act as their $ forms, pages and all', async (collection) => {
    const device = keyBody().deviceId!;
    const ids = await Promise.all([1, 2, 3].map(async () => (await escrowed({ deviceId: device })).body.id!));
    const first = await call('GET', `${collection}?filter=${encodeURIComponent(`deviceId eq '${device}'`)}&top=2&select=id`, {
      token: basic,
    });
    expect(first.status).toBe(200);
    expect(first.json['@odata.context']).toMatch(/recoveryKeys\(id\)$/);
    expect(first.json.value).toHaveLength(2);
    for (const item of first.json.value) expect(Object.keys(item)).toEqual(['@odata.type', 'id']);
    // The next page with the token as a bare skiptoken, as a client that drops every '$' would send it.
    const token = new URL(first.json['@odata.nextLink']).searchParams.get('$skiptoken')!;
    const second = await call(
      'GET',
      `${collection}?filter=${encodeURIComponent(`deviceId eq '${device}'`)}&top=2&select=id&skiptoken=${token}`,
      { token: basic },
    );
    expect(second.status).toBe(200);
    expect([...first.json.value, ...second.json.value].map((item: { id: string }) => item.id).sort()).toEqual([...ids].sort());
    const onePage = await call('GET', `${collection}?$filter=${encodeURIComponent(`deviceId eq '${device}'`)}&$top=1`, { token: basic });
    const afterOne = new URL(onePage.json['@odata.nextLink']).searchParams.get('$skiptoken')!;
    const nextOfBare = await call(
      'GET',
      `${collection}?filter=${encodeURIComponent(`deviceId eq '${device}'`)}&top=1&skiptoken=${afterOne}`,
      { token: basic },
    );
    const link = new URL(nextOfBare.json['@odata.nextLink']);
    expect({ bare: link.searchParams.has('skiptoken'), dollared: link.searchParams.has('$skiptoken') }).toEqual({
      bare: false,
      dollared: true,
    });
    const item = await call('GET', `${collection}/${ids[0]}?select=key,id`, { token: reader });
    const properties = Object.keys(item.json).filter((name) => !name.startsWith('@escrow.'));
    expect(properties.sort()).toEqual(['@odata.context', '@odata.etag', '@odata.type', 'id', 'key']);
  });

  it.each(BETA)('%s: an option given both with and without $ is a 400', async (collection) => {
    for (const query of ['filter=x&$filter=y', '$top=1&top=1', 'select=id&$select=id']) {
      const name = /(\w+)=/.exec(query)![1];
      const response = await call('GET', `${collection}?${query}`, { token: basic });
      expect(expectGraphError(response, 400, 'badRequest').message).toBe(
        `The query option $${name} is given both as '${name}' and as '$${name}'; give it once.`,
      );
    }
    const item = await call('GET', `${collection}/${keyBody().id}?select=id&$select=id`, { token: basic });
    expectGraphError(item, 400, 'badRequest');
  });

  it.each(BETA)('%s: other bare OData options are their $ forms, refused as unsupported like them', async (collection) => {
    const response = await call('GET', `${collection}?orderby=id`, { token: basic });
    expect(expectGraphError(response, 400, 'badRequest').message).toMatch(
      /^The query option '\$orderby' is not supported when listing recovery keys/,
    );
  });

  it.each(OTHERS)('%s (v1.0 or no prefix): a bare name is refused as today, with a did-you-mean', async (collection) => {
    const response = await call('GET', `${collection}?filter=${encodeURIComponent("deviceId eq 'x'")}`, { token: basic });
    expect(expectGraphError(response, 400, 'badRequest').message).toMatch(
      /^The query option 'filter' is not supported when listing recovery keys; did you mean '\$filter'\?/,
    );
    const item = await call('GET', `${collection}/${keyBody().id}?select=id`, { token: basic });
    expect(expectGraphError(item, 400, 'badRequest').message).toMatch(
      /^The query option 'select' is not supported when reading one recovery key; did you mean '\$select'\?/,
    );
  });

  it('/beta/auditLogs/directoryAudits takes filter and top bare; /v1.0 refuses them', async () => {
    const { body } = await escrowed();
    const query = `filter=${encodeURIComponent(`targetResources/any(t:t/id eq '${body.id}')`)}&top=1`;
    const beta = await call('GET', `/beta/auditLogs/directoryAudits?${query}`, { token: auditor });
    expect(beta.status).toBe(200);
    expect((beta.json.value as DirectoryAudit[]).map((event) => event.targetResources[0].id)).toEqual([body.id]);
    expectGraphError(await call('GET', `/v1.0/auditLogs/directoryAudits?${query}`, { token: auditor }), 400, 'badRequest');
    expectGraphError(await call('GET', `/auditLogs/directoryAudits?${query}`, { token: auditor }), 400, 'badRequest');
    expectGraphError(await call('GET', `/beta/auditLogs/directoryAudits?top=1&$top=1`, { token: auditor }), 400, 'badRequest');
  });
});

describe('7. header text: UTF-8 read as UTF-8, other bytes kept as escapes', () => {
  /** The bytes of `text` in UTF-8, as the one-character-per-byte string an HTTP client puts on the wire. */
  const utf8Bytes = (text: string): string => Buffer.from(text, 'utf8').toString('latin1');
  const headers = {
    'ocp-client-name': utf8Bytes('Büro-Helpdesk ✓'),
    'ocp-client-version': utf8Bytes('2.1 – 日本語'),
    // Latin-1, not UTF-8: 'Büro' with ü as the single byte 0xFC.
    'User-Agent': 'B\u00fcro-Agent/1.0 \u00ff',
  };
  const expected = [
    { key: 'User-Agent', value: 'B\\xfcro-Agent/1.0 \\xff' },
    { key: 'ocp-client-name', value: 'Büro-Helpdesk ✓' },
    { key: 'ocp-client-version', value: '2.1 – 日本語' },
  ];
  const detailsOf = (event: { additionalDetails: { key: string; value: string }[] }) =>
    event.additionalDetails.filter((d) => ['User-Agent', 'ocp-client-name', 'ocp-client-version'].includes(d.key));

  it('every audited operation (PATCH, POST, key read, refused read, DELETE) records the same text', async () => {
    const body = keyBody();
    const item = `/beta/informationProtection/bitlocker/recoveryKeys/${body.id}`;
    expect((await call('POST', '/v1.0/bitlocker/recoveryKeys', { token: writer, body, headers })).status).toBe(201);
    expect((await call('PATCH', item, { token: writer, body: { volumeType: 2 }, headers })).status).toBe(200);
    expect((await call('GET', `${item}?$select=key`, { token: reader, headers })).status).toBe(200);
    expect((await call('GET', `${item}?$select=key`, { token: basic, headers })).status).toBe(403);
    expect((await call('DELETE', item, { token: writer, headers })).status).toBe(204);
    const audits = await call('GET', auditsPath({ $filter: `targetResources/any(t:t/id eq '${body.id}')` }), { token: auditor });
    const events = audits.json.value as DirectoryAudit[];
    expect(events.map((e) => `${e.activityDisplayName} ${e.result}`).sort()).toEqual(
      [
        'Add BitLocker key success',
        'Update BitLocker key success',
        'Read BitLocker key success',
        'Read BitLocker key failure',
        'Delete BitLocker key success',
      ].sort(),
    );
    for (const event of events) expect(detailsOf(event)).toEqual(expected);
  });

  it('a client-request-id that decodes to non-ASCII text is still not echoed', async () => {
    const response = await call('GET', `/v1.0/bitlocker/recoveryKeys/${keyBody().id}`, {
      token: basic,
      headers: { 'client-request-id': utf8Bytes('ïd-✓') },
    });
    expect(response.status).toBe(404);
    expect(response.headers.get('client-request-id')).toBeNull();
    expect(response.json.error.innerError).not.toHaveProperty('client-request-id');
  });
});
