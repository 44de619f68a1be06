import '../support/functionsCore';
import { bodyText, handlerRequest, quietContext } from '../support/inProcess';
import { InvocationContext } from '@azure/functions';
import { collectionHandler } from '../../functions/recoveryKeys';
import { tableClient } from '../../shared/storage/tables';
import { READ_BASIC, tokenWith, WRITE } from '../support/client';
import { keyBody, newId } from '../support/fixtures';
import { idWithPrefix, randomHex, sorted } from '../support/keys';
import { rawTable } from '../support/storage';
import { CLAIM_ROW_END, CLAIM_ROW_PREFIX, claimRow, RECORD_ROW, TABLES } from '../../shared/storage/layout';

// The "no table scan" proof: the handler runs in-process against the process-wide TableClients the
// store uses, with a recording policy in their pipelines, so every request to storage is seen with
// its URL. Lookups by device, by id and by id prefix must address partitions; the unfiltered list reads
// the device index across partitions, as a key range.

const KEYS = TABLES.recoveryKeys;
const INDEX = TABLES.deviceIndex;

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

const pointRead = (id: string, row = RECORD_ROW): string => `(PartitionKey='${id}',RowKey='${row}')`;

/** The rows that hold a key, as every query of the records names them: the record and the devices' claims (never audit twins). */
const HOLDER_ROWS = `(RowKey eq '${RECORD_ROW}' or (RowKey ge '${CLAIM_ROW_PREFIX}' and RowKey lt '${CLAIM_ROW_END}'))`;

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
  const response = await collectionHandler(
    request('GET', `/v1.0/informationProtection/bitlocker/recoveryKeys?${query}`, reader),
    context(),
  );
  const requests = [...recorded];
  expect(response.status).toBe(200);
  const json = JSON.parse(bodyText(response)) as { value: { id: string }[] };
  return { ids: json.value.map((k) => k.id), requests };
}

describe('no table scan: every lookup addresses partitions', () => {
  it('listing by device is one single-partition query on the device index, and no read of the records', async () => {
    const deviceId = newId();
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) ids.push(await escrow({ deviceId }));
    await escrow({});
    const query = { method: 'GET', table: INDEX, resource: '()', filter: `PartitionKey eq '${deviceId}'` };

    // A new key's entry is left pending by its write: the first list reads each record and confirms the entries, in one transaction.
    const first = await listRecorded(`deviceId eq '${deviceId}'`);
    expect(sorted(first.ids)).toEqual(sorted(ids));
    expect(first.requests[0]).toEqual(query);
    expect(sorted(first.requests.slice(1).map((r) => `${r.method} ${r.table}${r.resource}`))).toEqual(
      sorted([...ids.map((id) => `GET ${KEYS}${pointRead(id)}`), 'POST $batch']),
    );
    const { ids: listed, requests } = await listRecorded(`deviceId eq '${deviceId}'`);
    expect(sorted(listed)).toEqual(sorted(ids));
    expect(requests).toEqual([query]);
  });

  it('entries of earlier versions (no metadata) and pending ones are checked against their records, which stay the truth', async () => {
    const deviceId = newId();
    const [legacy, pending, moved, gone] = [
      await escrow({ deviceId }),
      await escrow({ deviceId, volumeType: 2 }),
      await escrow({ deviceId }),
      newId(),
    ];
    const index = rawTable(INDEX);
    // As an earlier version wrote them: keys only. The one of `moved` points at a record now on another device.
    await index.upsertEntity({ partitionKey: deviceId, rowKey: legacy }, 'Replace');
    await index.upsertEntity({ partitionKey: deviceId, rowKey: moved }, 'Replace');
    await rawTable(KEYS).updateEntity({ partitionKey: moved, rowKey: RECORD_ROW, deviceId: newId() }, 'Merge');
    // A write that turned the entry pending and never committed: the entry's copy says removable, the record says fixed.
    await index.upsertEntity(
      {
        partitionKey: deviceId,
        rowKey: pending,
        volumeType: 'removableDataVolume',
        createdDateTime: '2020-01-01T00:00:00.000Z',
        listed: false,
      },
      'Replace',
    );
    // An insert interrupted before its record: an entry that points at nothing.
    await index.upsertEntity(
      { partitionKey: deviceId, rowKey: gone, volumeType: 'fixedDataVolume', createdDateTime: '2020-01-01T00:00:00.000Z', listed: false },
      'Replace',
    );

    const query = new URLSearchParams({ $filter: `deviceId eq '${deviceId}'` });
    recorded.length = 0;
    const response = await collectionHandler(
      request('GET', `/v1.0/informationProtection/bitlocker/recoveryKeys?${query}`, reader),
      context(),
    );
    const requests = [...recorded];
    const { value } = JSON.parse(bodyText(response)) as { value: { id: string; volumeType: string; deviceId: string }[] };
    expect(sorted(value.map((k) => k.id))).toEqual(sorted([legacy, pending]));
    expect(value.find((k) => k.id === pending)!.volumeType).toBe('fixedDataVolume');
    expect(value.every((k) => k.deviceId === deviceId)).toBe(true);
    // One query, then a point read for each untrusted entry, and for one whose record is not on this
    // device (or absent) a point read of the device's own claim on that id; nothing else. None of these
    // entries is confirmed, since none carries a copy that equals its live record on this device.
    expect(requests.filter((r) => r.table === INDEX)).toHaveLength(1);
    expect(sorted(requests.filter((r) => r.table === KEYS).map((r) => r.resource))).toEqual(
      sorted([
        ...[legacy, pending, moved, gone].map((id) => pointRead(id)),
        ...[moved, gone].map((id) => pointRead(id, claimRow(deviceId))),
      ]),
    );
    expect(await index.getEntity(deviceId, pending)).toMatchObject({ volumeType: 'removableDataVolume', listed: false });
    expect(await index.getEntity(deviceId, legacy)).not.toHaveProperty('listed');
  });

  it('a list never confirms the entry of a key leaving the device (no copy), even while its record is still live there', async () => {
    const deviceId = newId();
    const id = await escrow({ deviceId });
    const index = rawTable(INDEX);
    // As a delete or a move away leaves it between its pending write and its commit.
    await index.upsertEntity({ partitionKey: deviceId, rowKey: id, listed: false }, 'Replace');
    const { ids, requests } = await listRecorded(`deviceId eq '${deviceId}'`);
    expect(ids).toEqual([id]);
    expect(requests.map((r) => `${r.method} ${r.table}`)).toEqual([`GET ${INDEX}`, `GET ${KEYS}`]);
    const entry = await index.getEntity<Record<string, unknown>>(deviceId, id);
    expect({ listed: entry.listed, volumeType: entry.volumeType }).toEqual({ listed: false, volumeType: undefined });
  });

  it('a write that changes what the list shows leaves a trusted entry with the new metadata; a no-change write touches no entry', async () => {
    const deviceId = newId();
    const id = await escrow({ deviceId, volumeType: 1 });
    const entry = async () => rawTable(INDEX).getEntity<Record<string, unknown>>(deviceId, id);
    // A new key's entry: pending with its copy until the device's first list confirms it.
    expect(await entry()).toMatchObject({ volumeType: 'operatingSystemVolume', listed: false });
    await listRecorded(`deviceId eq '${deviceId}'`);
    expect(await entry()).toMatchObject({ volumeType: 'operatingSystemVolume', listed: true });
    // Metadata only: a recovery password never changes under its key id.
    const moved = await collectionHandler(request('PATCH', '/bitlocker/recoveryKeys', writer, { id, volumeType: 2 }), context());
    expect(moved.status).toBe(200);
    expect(await entry()).toMatchObject({ volumeType: 'fixedDataVolume', listed: true });
    const before = (await entry()).etag;
    recorded.length = 0;
    await collectionHandler(request('PATCH', '/bitlocker/recoveryKeys', writer, { id, volumeType: 2 }), context());
    expect(recorded.filter((r) => r.table === INDEX)).toEqual([]);
    expect((await entry()).etag).toBe(before);
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
        filter: `PartitionKey ge '${prefix}' and PartitionKey lt '${prefix}~' and ${HOLDER_ROWS}`,
      });
    }
  });

  it("$filter=id eq '{guid}' is a single query of the key's partition", async () => {
    const id = await escrow({});
    const { ids: listed, requests } = await listRecorded(`id eq '${id}'`);
    expect(listed).toEqual([id]);
    expect(requests).toEqual([{ method: 'GET', table: KEYS, resource: '()', filter: `PartitionKey eq '${id}' and ${HOLDER_ROWS}` }]);
  });

  it('the unfiltered list reads the device index as a key range, and the records only by point reads', async () => {
    await escrow({});
    const { ids, requests } = await listRecorded(undefined, 1);
    expect(ids).toHaveLength(1);
    expect(requests[0]).toEqual({ method: 'GET', table: INDEX, resource: '()', filter: "PartitionKey gt '' and PartitionKey lt '~'" });
    // An entry still pending (a new key no list confirmed yet) is checked with a point read of its record.
    for (const r of requests.slice(1)) expect(r.resource === '()' ? r : 'not a query').toBe('not a query');
    expect(requests.filter(isScanOfRecords)).toEqual([]);
  });
});
