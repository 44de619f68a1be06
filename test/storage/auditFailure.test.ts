import '../support/functionsCore';
import { bodyJson, bodyText, handlerRequest, quietContext } from '../support/inProcess';
import { RestError } from '@azure/data-tables';
import { InvocationContext, type HttpResponseInit } from '@azure/functions';
import { collectionHandler, itemHandler } from '../../functions/recoveryKeys';
import { TIME_ROWS } from '../../shared/audit/rows';
import { AUDIT_TABLE } from '../../shared/audit/store';
import { tableClient } from '../../shared/storage/tables';
import { newOid } from '../support/audit';
import { READ, READ_BASIC, WRITE, token } from '../support/client';
import { keyBody, newId, type KeyBody } from '../support/fixtures';
import { keyRowsOf, rawEntities } from '../support/storage';
import { RECORD_ROW, TABLES } from '../../shared/storage/layout';
import { COLLECTION } from '../support/keys';

// "If the audit record cannot be written, the key is not returned" (spec, Operations), and no write
// happens without its record: the handlers are called in-process against the run's Azurite while the
// AuditLog table's client (the cached one that the app uses) fails every request. The audit entry is
// written before the key's record transaction, so a failed entry stops the write before it starts.

const FAIL_AUDIT = 'failAudit';

const context = (): InvocationContext => quietContext('auditFailure.test');
const request = handlerRequest;

const header = (response: HttpResponseInit, name: string): string | undefined =>
  (response.headers as Record<string, string> | undefined)?.[name];

const get = (id: string, bearer: string, select = '') =>
  itemHandler(request('GET', `${COLLECTION}/${id}${select}`, bearer, undefined, id), context());
const patchItem = (body: KeyBody, bearer: string, id = body.id!) =>
  itemHandler(request('PATCH', `${COLLECTION}/${id}`, bearer, body, id), context());

/** Asserts the audit trail's 503: Graph's error shape, serviceNotAvailable, a Retry-After in seconds. */
function expectAuditOutage(response: HttpResponseInit): void {
  expect(response.status).toBe(503);
  const json = bodyJson(response);
  expect(json.error.code).toBe('serviceNotAvailable');
  expect(json.error.message).toMatch(/audit/i);
  expect(json.error.innerError['request-id']).toBe(header(response, 'request-id'));
  expect(header(response, 'Retry-After')).toMatch(/^[1-9][0-9]*$/);
}

let writer: string;
let reader: string;
let basicReader: string;
let stored: KeyBody;

/** Every AuditLog row that names the key. */
const auditRowsOf = (id: string) => rawEntities(AUDIT_TABLE, `${TIME_ROWS} and targetId eq '${id}'`);

async function failAudit(): Promise<void> {
  const client = await tableClient(AUDIT_TABLE);
  client.pipeline.addPolicy({
    name: FAIL_AUDIT,
    sendRequest: () => Promise.reject(new RestError('down', { statusCode: 503 })),
  });
}

async function restoreAudit(): Promise<void> {
  (await tableClient(AUDIT_TABLE)).pipeline.removePolicy({ name: FAIL_AUDIT });
}

beforeAll(async () => {
  [writer, reader, basicReader] = await Promise.all([
    token({ roles: [WRITE], claims: { oid: newOid() } }),
    token({ roles: [READ], claims: { oid: newOid() } }),
    token({ roles: [READ_BASIC], claims: { oid: newOid() } }),
  ]);
  stored = keyBody();
  // With the trail working: the key exists, and so do the tables (created on first use).
  expect((await patchItem(stored, writer)).status).toBe(200);
  expect((await get(stored.id!, reader, '?$select=key')).status).toBe(200);
});

describe('while the audit trail cannot be written', () => {
  beforeEach(failAudit);
  afterEach(restoreAudit);

  it('a key read answers 503 with Retry-After, and the body holds no key', async () => {
    const auditRowsBefore = (await auditRowsOf(stored.id!)).length;
    const response = await get(stored.id!, reader, '?$select=key');
    expectAuditOutage(response);
    expect(bodyText(response)).not.toContain(stored.key);
    expect(bodyText(response)).not.toContain(stored.key!.replace(/-/g, ''));
    expect(await auditRowsOf(stored.id!)).toHaveLength(auditRowsBefore);
  });

  it('a refused key read is not answered 403 unrecorded: it is the same 503', async () => {
    const response = await get(stored.id!, basicReader, '?$select=key');
    expectAuditOutage(response);
    expect(bodyText(response)).not.toContain(stored.key);
  });

  it('metadata reads, which are not audited, still work', async () => {
    const response = await get(stored.id!, basicReader);
    expect(response.status).toBe(200);
    expect(bodyText(response)).not.toContain(stored.key);
  });

  it.each([
    ['PATCH {collection}/{id}', (body: KeyBody) => patchItem(body, writer)],
    ['PATCH {collection}', (body: KeyBody) => collectionHandler(request('PATCH', COLLECTION, writer, body), context())],
    ['POST {collection}', (body: KeyBody) => collectionHandler(request('POST', COLLECTION, writer, body), context())],
  ])('%s creating a key answers 503 and stores no record', async (_name, send) => {
    const body = keyBody();
    const response = await send(body);
    expectAuditOutage(response);
    expect(bodyText(response)).not.toContain(body.key);
    const { records } = await keyRowsOf(body.id!);
    expect(records).toEqual([]);
    // No twin either: nothing in the key's partition at all (a device index entry, written ahead of the
    // record as a hint, may remain; readers check it against the record).
    expect(await rawEntities(TABLES.recoveryKeys, `PartitionKey eq '${body.id}'`)).toEqual([]);
    expect(await auditRowsOf(body.id!)).toEqual([]);
  });

  it('a PATCH changing a key answers 503 and the stored key stays as it was', async () => {
    const before = await rawEntities(TABLES.recoveryKeys, `PartitionKey eq '${stored.id}' and RowKey eq '${RECORD_ROW}'`);
    const response = await patchItem({ deviceId: newId(), volumeType: 'fixedDataVolume' }, writer, stored.id);
    expectAuditOutage(response);
    const after = await rawEntities(TABLES.recoveryKeys, `PartitionKey eq '${stored.id}' and RowKey eq '${RECORD_ROW}'`);
    expect(after).toEqual(before);
  });

  it('a DELETE answers 503 and the key stays', async () => {
    const response = await itemHandler(request('DELETE', `${COLLECTION}/${stored.id}`, writer, undefined, stored.id), context());
    expectAuditOutage(response);
    expect((await keyRowsOf(stored.id!)).records).toHaveLength(1);
  });
});

describe('once the audit trail is back', () => {
  it('the same operations succeed, and nothing of the failed attempts shows', async () => {
    const read = await get(stored.id!, reader, '?$select=key,volumeType');
    expect(read.status).toBe(200);
    const json = bodyJson(read);
    // The failed PATCH changed nothing.
    expect(json).toMatchObject({ key: stored.key, volumeType: 'operatingSystemVolume' });

    const body = keyBody();
    expect((await patchItem(body, writer)).status).toBe(200);
    expect((await keyRowsOf(body.id!)).records).toHaveLength(1);
    expect((await auditRowsOf(body.id!)).map((row) => row.activityDisplayName)).toEqual(['Add BitLocker key']);
  });
});
