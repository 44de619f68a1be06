import { TableClient } from '@azure/data-tables';
import { startAzuriteTables, type RunningAzurite } from '../../scripts/devhost/azurite';
import { startLocalHost, stopLocalHosts, type LocalHost } from '../../scripts/devhost/localHost';
import { DELETED_ROW, TABLES } from '../../shared/storage/layout';
import { type ApiResponse, callOn, READ, tokenWith, WRITE } from '../support/client';
import { startCountingProxy, type CountingProxy, type CountedRequest, type HangWhen } from '../support/countingProxy';
import { keyBody, newId } from '../support/fixtures';
import { item, listPath } from '../support/keys';

// A delete, a restore or a purge moves a key between the device index and the deleted keys' index
// (shared/recoveryKeys/deletedIndex.ts) in steps: rows turned pending, the record's transaction, rows
// confirmed or removed. Each test stops storage at one step of one request (a private host's storage
// goes through a proxy that holds chosen requests forever, as a crashed instance never sends its next
// one) and checks that every list then shows what the record says, and that the lists themselves mend
// the index, so that the crash costs nothing after the first list.

jest.setTimeout(120_000);

const DELETED_KEYS = '/v1.0/directory/deletedItems/microsoft.graph.bitlockerRecoveryKey';
const PURGE = 'BitLockerKey.Purge.All';

let azurite: RunningAzurite;
let proxy: CountingProxy;
let host: LocalHost;
let writer: string;
let reader: string;
let purger: string;

/** The step of the request under test that never gets its answer: none outside of it. */
let crashAt: ((request: CountedRequest, seen: CountedRequest[]) => boolean) | undefined;
let seen: CountedRequest[] = [];
const hungTries = new Set<string>();
const hangWhen: HangWhen = (request, tryId) => {
  if (hungTries.has(tryId)) return true;
  if (!crashAt) return false;
  seen.push(request);
  if (!crashAt(request, seen)) return false;
  hungTries.add(tryId);
  return true;
};

/** The nth request to `table` of the request under test. */
const nth =
  (table: string, n: number) =>
  (request: CountedRequest, all: CountedRequest[]): boolean =>
    request.table === table && all.filter((r) => r.table === table).length === n;

/** After the record's transaction: the deleted keys' index's second request (its first turned the row pending). */
const AFTER_COMMIT = nth(TABLES.deletedKeys, 2);
/** The record's transaction: the request's second transaction (the first is its audit rows, sent beside the pending rows). */
const THE_COMMIT = nth('$batch', 2);

async function crashing(at: typeof crashAt, request: () => Promise<ApiResponse>): Promise<ApiResponse> {
  await proxy.settled();
  seen = [];
  crashAt = at;
  try {
    return await request();
  } finally {
    crashAt = undefined;
    await proxy.settled();
  }
}

beforeAll(async () => {
  azurite = await startAzuriteTables({ port: 0, inMemory: true, silent: true });
  proxy = await startCountingProxy(azurite.connectionString, 10, hangWhen);
  host = await startLocalHost({ STORAGE_CONNECTION_STRING: proxy.connectionString });
  [writer, reader, purger] = await Promise.all([tokenWith(WRITE), tokenWith(READ), tokenWith(PURGE)]);
});

afterAll(async () => {
  await stopLocalHosts();
  await proxy?.close();
  await azurite?.stop();
}, 30_000);

const send = (method: string, path: string, token: string, body?: object): Promise<ApiResponse> =>
  callOn(host.url, method, path, { token, body });

const rowOf = async (id: string): Promise<Record<string, unknown> | undefined> => {
  const table = TableClient.fromConnectionString(azurite.connectionString, TABLES.deletedKeys, { allowInsecureConnection: true });
  try {
    return await table.getEntity(id, DELETED_ROW);
  } catch {
    return undefined;
  }
};

/** A fresh key of a fresh device, escrowed. */
async function escrowed(): Promise<{ id: string; deviceId: string }> {
  const body = keyBody({ deviceId: newId() });
  expect((await send('PATCH', item(body.id!), writer, body)).status).toBe(200);
  return { id: body.id!, deviceId: body.deviceId! };
}

/** The ids of every deleted key, followed to the last page, and the storage requests of the first page. */
async function deletedIds(): Promise<{ ids: string[]; classes: string[] }> {
  await proxy.settled();
  proxy.reset();
  let page = await send('GET', `${DELETED_KEYS}?$top=100`, reader);
  const { classes } = await proxy.settled();
  const ids: string[] = [];
  for (;;) {
    expect(page.status).toBe(200);
    ids.push(...(page.json.value as { id: string }[]).map((key) => key.id));
    const next = page.json['@odata.nextLink'] as string | undefined;
    if (next === undefined) return { ids, classes };
    page = await send('GET', next.replace(/^https?:\/\/[^/]+/, ''), reader);
  }
}

const liveIdsOf = async (deviceId: string, unfiltered: boolean): Promise<string[]> => {
  const path = unfiltered ? listPath({ $top: '1000' }) : listPath({ $filter: `deviceId eq '${deviceId}'` });
  const response = await send('GET', path, reader);
  expect(response.status).toBe(200);
  return (response.json.value as { id: string; deviceId: string }[]).filter((key) => key.deviceId === deviceId).map((key) => key.id);
};

describe('a crash between the steps of a delete, a restore or a purge loses no key from any list', () => {
  test('a delete that stopped after the record committed: listed as deleted at once, its row confirmed by the first list', async () => {
    const { id, deviceId } = await escrowed();
    expect((await crashing(AFTER_COMMIT, () => send('DELETE', item(id), writer))).status).toBe(204);
    expect(await rowOf(id)).toMatchObject({ listed: false, deviceId });
    const first = await deletedIds();
    expect(first.ids).toContain(id);
    // The pending row was checked against the record (a point read) and confirmed.
    expect(first.classes).toContain('point RecoveryKeys');
    expect(await rowOf(id)).toMatchObject({ listed: true, deviceId });
    expect((await deletedIds()).classes).toEqual(['key-range DeletedRecoveryKeys']);
    expect(await liveIdsOf(deviceId, false)).toEqual([]);
    expect(await liveIdsOf(deviceId, true)).toEqual([]);
  });

  test('a delete that stopped before the record committed: still live everywhere, not deleted; deleted once tried again', async () => {
    const { id, deviceId } = await escrowed();
    expect((await crashing(THE_COMMIT, () => send('DELETE', item(id), writer))).status).toBe(503);
    // The row it left pending (with the copy the delete would have made) is not shown: the record is live.
    expect(await rowOf(id)).toMatchObject({ listed: false });
    expect((await deletedIds()).ids).not.toContain(id);
    expect(await liveIdsOf(deviceId, false)).toEqual([id]);
    expect(await liveIdsOf(deviceId, true)).toEqual([id]);
    expect((await send('GET', item(id), reader)).status).toBe(200);
    expect((await send('DELETE', item(id), writer)).status).toBe(204);
    expect((await deletedIds()).ids).toContain(id);
    expect(await rowOf(id)).toMatchObject({ listed: true });
  });

  test('a restore that stopped after the record committed: live again at once, its row removed by the first list', async () => {
    const { id, deviceId } = await escrowed();
    expect((await send('DELETE', item(id), writer)).status).toBe(204);
    const restore = `/v1.0/directory/deletedItems/${id}/restore`;
    expect((await crashing(AFTER_COMMIT, () => send('POST', restore, writer))).status).toBe(200);
    expect(await rowOf(id)).toMatchObject({ listed: false });
    expect((await deletedIds()).ids).not.toContain(id);
    expect(await rowOf(id)).toBeUndefined();
    expect(await liveIdsOf(deviceId, false)).toEqual([id]);
    expect(await liveIdsOf(deviceId, true)).toEqual([id]);
  });

  test('a restore that stopped before the record committed: still deleted, still listed as deleted', async () => {
    const { id, deviceId } = await escrowed();
    expect((await send('DELETE', item(id), writer)).status).toBe(204);
    const restore = `/v1.0/directory/deletedItems/${id}/restore`;
    expect((await crashing(THE_COMMIT, () => send('POST', restore, writer))).status).toBe(503);
    expect((await deletedIds()).ids).toContain(id);
    expect(await liveIdsOf(deviceId, false)).toEqual([]);
    expect((await send('POST', restore, writer)).status).toBe(200);
    expect((await deletedIds()).ids).not.toContain(id);
    expect(await liveIdsOf(deviceId, true)).toEqual([id]);
  });

  test('a purge that stopped after the record was deleted: gone from the list at once, its row removed by the first list', async () => {
    const { id } = await escrowed();
    expect((await send('DELETE', item(id), writer)).status).toBe(204);
    // The purge's requests: its audit rows and the pending row, its audit twin, the record's delete, the row's removal.
    const removal = nth(TABLES.deletedKeys, 2);
    expect((await crashing(removal, () => send('DELETE', `/v1.0/directory/deletedItems/${id}`, purger))).status).toBe(204);
    expect(await rowOf(id)).toMatchObject({ listed: false });
    expect((await deletedIds()).ids).not.toContain(id);
    expect(await rowOf(id)).toBeUndefined();
    expect((await send('GET', `/v1.0/directory/deletedItems/${id}`, reader)).status).toBe(404);
  });
});
