import '../support/functionsCore';
import { handlerRequest, quietContext } from '../support/inProcess';
import { HttpRequest, InvocationContext } from '@azure/functions';
import { collectionHandler } from '../../functions/recoveryKeys';
import { tableClient } from '../../shared/storage/tables';
import { READ_BASIC, tokenWith, WRITE } from '../support/client';
import { keyBody, newId } from '../support/fixtures';
import { idWithPrefix, randomHex, sorted } from '../support/keys';

// The "no table scan" proof: the handler runs in-process against the process-wide TableClients the
// store uses, with a recording policy in their pipelines, so every request to storage is seen with
// its URL. Lookups by device, by id and by id prefix must address partitions; only the unfiltered
// list may query across them.

const KEYS = 'RecoveryKeys';
const INDEX = 'RecoveryKeysByDevice';

interface StorageRequest {
  method: string;
  table: string;
  /** The resource after the table name: '()' for a query, "(PartitionKey='…',RowKey='…')" for one entity. */
  resource: string;
  /** The decoded $filter of a query. */
  filter: string | null;
}

const recorded: StorageRequest[] = [];

function record(method: string, url: string): void {
  const { pathname, searchParams } = new URL(url);
  const last = decodeURIComponent(pathname.slice(pathname.lastIndexOf('/') + 1));
  const match = /^([A-Za-z0-9]+)(\(.*\))?$/.exec(last);
  recorded.push({ method, table: match?.[1] ?? last, resource: match?.[2] ?? '', filter: searchParams.get('$filter') });
}

const pointRead = (id: string): string => `(PartitionKey='${id}',RowKey='recoveryKey')`;

/** A query on the records table with no PartitionKey condition reads every partition: a scan. */
const isScanOfRecords = (r: StorageRequest): boolean => r.table === KEYS && r.resource === '()' && !/PartitionKey/.test(r.filter ?? '');

let writer: string;
let reader: string;

beforeAll(async () => {
  [writer, reader] = await Promise.all([tokenWith(WRITE), tokenWith(READ_BASIC)]);
  for (const name of [KEYS, INDEX]) {
    (await tableClient(name)).pipeline.addPolicy({
      name: 'recorder',
      sendRequest: async (request, next) => {
        record(request.method, request.url);
        return next(request);
      },
    });
  }
});

const context = (): InvocationContext => quietContext('storageQueries');
const request = handlerRequest;


async function escrow(overrides: Parameters<typeof keyBody>[0]): Promise<string> {
  const body = keyBody(overrides);
  const response = await collectionHandler(request('PATCH', '/bitlocker/recoveryKeys', writer, body), context());
  expect(response.status).toBe(200);
  return body.id!;
}

/** Lists with `filter`, recording only the list's own storage requests. */
async function listRecorded(filter: string | undefined, top?: number): Promise<{ ids: string[]; requests: StorageRequest[] }> {
  const query = new URLSearchParams();
  if (filter !== undefined) query.set('$filter', filter);
  if (top !== undefined) query.set('$top', String(top));
  recorded.length = 0;
  const response = await collectionHandler(request('GET', `/v1.0/informationProtection/bitlocker/recoveryKeys?${query}`, reader), context());
  const requests = [...recorded];
  expect(response.status).toBe(200);
  const json = JSON.parse(String(response.body)) as { value: { id: string }[] };
  return { ids: json.value.map((k) => k.id), requests };
}

describe('no table scan: every lookup addresses partitions', () => {
  it('listing by device is one single-partition query on the device index plus a point read per key', async () => {
    const deviceId = newId();
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) ids.push(await escrow({ deviceId }));
    await escrow({});

    const { ids: listed, requests } = await listRecorded(`deviceId eq '${deviceId}'`);
    expect(sorted(listed)).toEqual(sorted(ids));

    const onIndex = requests.filter((r) => r.table === INDEX);
    expect(onIndex).toEqual([{ method: 'GET', table: INDEX, resource: '()', filter: `PartitionKey eq '${deviceId}'` }]);
    const onRecords = requests.filter((r) => r.table === KEYS);
    expect(sorted(onRecords.map((r) => r.resource))).toEqual(sorted(ids.map(pointRead)));
    for (const r of onRecords) expect(r.method).toBe('GET');
    expect(requests.filter(isScanOfRecords)).toEqual([]);
    expect(requests).toHaveLength(onIndex.length + onRecords.length);
  });

  it('the prefix search is a PartitionKey range on the records and touches nothing else', async () => {
    const prefix = randomHex(8);
    const ids = [await escrow({ id: idWithPrefix(prefix) }), await escrow({ id: idWithPrefix(prefix) })];

    const { ids: listed, requests } = await listRecorded(`startswith(id,'${prefix.toUpperCase()}')`);
    expect(sorted(listed)).toEqual(sorted(ids));

    expect(requests.length).toBeGreaterThan(0);
    for (const r of requests) {
      expect(r).toEqual({
        method: 'GET',
        table: KEYS,
        resource: '()',
        filter: `PartitionKey ge '${prefix}' and PartitionKey lt '${prefix}~' and RowKey eq 'recoveryKey'`,
      });
    }
  });

  it("$filter=id eq '{guid}' is a single point read", async () => {
    const id = await escrow({});
    const { ids: listed, requests } = await listRecorded(`id eq '${id}'`);
    expect(listed).toEqual([id]);
    expect(requests).toEqual([{ method: 'GET', table: KEYS, resource: pointRead(id), filter: null }]);
  });

  it('the recorder does see a scan: the unfiltered list is a query on the records without a PartitionKey condition', async () => {
    await escrow({});
    const { ids, requests } = await listRecorded(undefined, 1);
    expect(ids).toHaveLength(1);
    expect(requests).toEqual([{ method: 'GET', table: KEYS, resource: '()', filter: "RowKey eq 'recoveryKey'" }]);
    expect(requests.filter(isScanOfRecords)).toHaveLength(1);
  });
});
