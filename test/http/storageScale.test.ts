import { TableClient, type TransactionAction } from '@azure/data-tables';
import { startAzuriteTables, type RunningAzurite } from '../../scripts/devhost/azurite';
import { propertiesOf } from '../../scripts/bench/fixtures';
import { startLocalHost, stopLocalHosts, type LocalHost } from '../../scripts/devhost/localHost';
import { rowsOfEvent } from '../../shared/audit/entity';
import { ACTIVITIES, type Activity, type AuditEvent } from '../../shared/audit/model';
import { CHECKS_PER_PAGE } from '../../shared/recoveryKeys/deviceIndex';
import { AUDIT_SHARDS } from '../../shared/audit/rows';
import { TWIN_LOOKUPS } from '../../shared/audit/listing';
import { DELETED_ROW, RECORD_ROW, TABLES } from '../../shared/storage/layout';
import { AUDIT_READ, auditsPath, targetFilter } from '../support/audit';
import { type ApiResponse, callOn, READ, tokenWith, WRITE } from '../support/client';
import { inFlightTogether, requestsOf, startCountingProxy, type CountingProxy, type RequestCount } from '../support/countingProxy';
import { keyBody, newId } from '../support/fixtures';
import { item, listPath, mapLimit } from '../support/keys';

// Every operation docs/api.md documents costs the same storage requests whatever the tables hold, and
// none of them reads every partition of a table (a scan). Counted on the wire by a classifying proxy (support/countingProxy.ts) between a
// private host and its own Azurite, seeded at two sizes; each figure is pinned, and must be the same
// at both. A size is SCALE devices of KEYS_PER_DEVICE keys, AUDIT_EVENTS audit events, SCALE deleted keys.

jest.setTimeout(180_000);

const KEYS_PER_DEVICE = 3;
const DEVICES_PER_SCALE = 20;
const AUDIT_EVENTS_PER_SCALE = 260;
/** New keys a device has when it is listed the first time: a pending backlog beyond one page's checks at both sizes. */
const NEW_KEYS = 2 * CHECKS_PER_PAGE;

/** Every shard, one partition query each, in one round trip. */
const ALL_SHARDS = Array.from({ length: AUDIT_SHARDS }, () => 'partition AuditLog');

interface Size {
  azurite: RunningAzurite;
  proxy: CountingProxy;
  host: LocalHost;
  /** A key of a seeded device with a long audit history. */
  busyKey: string;
  /** How many seeded events are about it. */
  busyEvents: number;
  /** A seeded event and its caller's object id (every seeded event has a caller of its own). */
  initiated: { eventId: string; oid: string };
  device: string;
  newKeysDevice: string;
}

let writer: string;
let reader: string;
let auditor: string;

beforeAll(async () => {
  [writer, reader, auditor] = await Promise.all([tokenWith(WRITE), tokenWith(READ), tokenWith(AUDIT_READ)]);
});

afterAll(async () => {
  await stopLocalHosts();
}, 30_000);

const rawTable = (azurite: RunningAzurite, name: string): TableClient =>
  TableClient.fromConnectionString(azurite.connectionString, name, { allowInsecureConnection: true });

function seededEvent(activity: Activity, keyId: string, deviceId: string, at: Date): AuditEvent {
  return {
    id: newId(),
    activity,
    at,
    result: 'success',
    resultReason: '',
    keyId,
    deviceId,
    source: { requestId: newId(), caller: { oid: newId(), delegated: false, permissions: new Set() } },
  };
}

/** Writes rows grouped by partition, up to 100 to a transaction. */
async function writeGrouped(table: TableClient, rows: { partitionKey: string; rowKey: string }[]): Promise<void> {
  const byPartition = new Map<string, TransactionAction[]>();
  for (const row of rows) byPartition.set(row.partitionKey, [...(byPartition.get(row.partitionKey) ?? []), ['upsert', row, 'Replace']]);
  const batches = [...byPartition.values()].flatMap((actions) =>
    Array.from({ length: Math.ceil(actions.length / 100) }, (_, i) => actions.slice(i * 100, i * 100 + 100)),
  );
  await mapLimit(batches, 8, (batch) => table.submitTransaction(batch));
}

async function seed(scale: number): Promise<Size> {
  const azurite = await startAzuriteTables({ port: 0, inMemory: true, silent: true });
  const proxy = await startCountingProxy(azurite.connectionString, 10);
  const host = await startLocalHost({ STORAGE_CONNECTION_STRING: proxy.connectionString });
  const call = (method: string, path: string, body?: object): Promise<ApiResponse> =>
    callOn(host.url, method, path, { token: writer, body });
  // Through the app: one key whose record is the template of the seeded ones, and every table created
  // (its reveal, after the template is taken, creates the disclosure tables, created on first use:
  // KeyDisclosures and KeysAwaitingRotation).
  const first = keyBody();
  expect((await call('PATCH', item(first.id!), first)).status).toBe(200);
  const template = propertiesOf(await rawTable(azurite, TABLES.recoveryKeys).getEntity(first.id!, RECORD_ROW));
  expect((await callOn(host.url, 'GET', `${item(first.id!)}?$select=key`, { token: reader })).status).toBe(200);
  const devices = Array.from({ length: DEVICES_PER_SCALE * scale }, () => newId());
  const keys = devices.flatMap((deviceId) => Array.from({ length: KEYS_PER_DEVICE }, () => ({ id: newId(), deviceId })));
  const deleted = new Set(keys.slice(0, scale * 2).map((k) => k.id));
  await mapLimit(keys, 16, ({ id, deviceId }) =>
    rawTable(azurite, TABLES.recoveryKeys).upsertEntity(
      {
        ...template,
        partitionKey: id,
        rowKey: RECORD_ROW,
        deviceId,
        ...(deleted.has(id) && { deletedDateTime: new Date().toISOString() }),
      },
      'Replace',
    ),
  );
  const createdDateTime = String(template.createdDateTime);
  // The deleted keys' rows in their index, as their deletes left them (confirmed); the app's first list of
  // them (below) has its host create the table its way, as every other table was.
  await rawTable(azurite, TABLES.deletedKeys).createTable();
  await mapLimit(
    keys.filter((k) => deleted.has(k.id)),
    16,
    ({ id, deviceId }) =>
      rawTable(azurite, TABLES.deletedKeys).upsertEntity(
        {
          partitionKey: id,
          rowKey: DELETED_ROW,
          deviceId,
          volumeType: 'operatingSystemVolume',
          createdDateTime,
          deletedDateTime: new Date().toISOString(),
          listed: true,
        },
        'Replace',
      ),
  );
  await writeGrouped(
    rawTable(azurite, TABLES.deviceIndex),
    keys
      .filter((k) => !deleted.has(k.id))
      .map(({ id, deviceId }) => ({
        partitionKey: deviceId,
        rowKey: id,
        volumeType: 'operatingSystemVolume',
        createdDateTime,
        listed: true,
      })),
  );
  // The audit trail: reads and updates of the seeded keys over the last two days, a tenth of them on one key.
  const busyKey = keys[keys.length - 1];
  const activities: Activity[] = ['read', 'update', 'compare', 'read'];
  const events = Array.from({ length: AUDIT_EVENTS_PER_SCALE * scale }, (_, i) => {
    const key = i % 10 === 0 ? busyKey : keys[i % keys.length];
    return seededEvent(activities[i % activities.length], key.id, key.deviceId, new Date(Date.now() - 60_000 - i * 60_000));
  });
  await writeGrouped(
    rawTable(azurite, TABLES.auditLog),
    events.flatMap((event) => rowsOfEvent(event, false)),
  );
  // A device with new keys its first list has not seen yet (escrowed through the app: pending entries).
  const newKeysDevice = newId();
  await mapLimit(
    Array.from({ length: NEW_KEYS }, () => keyBody({ deviceId: newKeysDevice })),
    4,
    async (body) => expect((await call('PATCH', item(body.id!), body)).status).toBe(200),
  );
  expect(
    (await callOn(host.url, 'GET', '/v1.0/directory/deletedItems/microsoft.graph.bitlockerRecoveryKey', { token: reader })).status,
  ).toBe(200);
  const busyEvents = events.filter((event) => event.keyId === busyKey.id).length;
  const initiated = { eventId: events[5].id, oid: events[5].source.caller.oid! };
  return { azurite, proxy, host, busyKey: busyKey.id, busyEvents, initiated, device: busyKey.deviceId, newKeysDevice };
}

const SIZES = [1, 10];
const sizes = new Map<number, Size>();
/** The pinned figures, by operation and size, for the report at the end. */
const measured: Record<string, Record<number, string>> = {};

afterAll(async () => {
  console.log(
    Object.entries(measured)
      .map(([operation, bySize]) => `${operation}: ${SIZES.map((s) => `${s}x ${bySize[s]}`).join(' | ')}`)
      .join('\n'),
  );
  for (const size of sizes.values()) {
    await size.host.stop();
    await size.proxy.close();
    await size.azurite.stop();
  }
}, 30_000);

describe.each(SIZES)('at %ix the data', (scale) => {
  let size: Size;
  const send = (method: string, path: string, token: string, body?: object): Promise<ApiResponse> =>
    callOn(size.host.url, method, path, { token, body });

  beforeAll(async () => {
    size = await seed(scale);
    sizes.set(scale, size);
  }, 180_000);

  /** The storage requests `operation` made, by class and table, once the proxy is quiet. */
  async function classes(name: string, operation: () => Promise<ApiResponse>, status = 200): Promise<RequestCount> {
    await size.proxy.settled();
    size.proxy.reset();
    const response = await operation();
    expect({ name, status: response.status }).toEqual({ name, status });
    const count = await size.proxy.settled();
    (measured[name] ??= {})[scale] = `${count.total} (${count.inARow} in a row): ${count.classes.join(', ')}`;
    return count;
  }

  test('key writes and reads: fixed counts of point requests and transactions', async () => {
    const body = keyBody();
    // A new key also counts its device's live keys (MAX_KEYS_PER_DEVICE): one partition query of the
    // device's index, which the cap itself bounds (200 entries by default, one page).
    expect((await classes('PATCH a new key', () => send('PATCH', item(body.id!), writer, body))).classes).toEqual([
      'batch $batch',
      'batch $batch',
      'partition RecoveryKeysByDevice',
      'point RecoveryKeys',
      'point RecoveryKeysByDevice',
    ]);
    expect((await classes('PATCH an escrowed key unchanged', () => send('PATCH', item(body.id!), writer, body))).classes).toEqual([
      'batch $batch',
      'point RecoveryKeys',
    ]);
    // The record and any other device's claims on the id: one partition query.
    expect((await classes('GET a key', () => send('GET', item(body.id!), reader))).classes).toEqual(['partition RecoveryKeys']);
    // The first reveal marks the key disclosed (ROTATE_AFTER_REVEAL): its two indexes first (the device's
    // KeyDisclosures mark, the KeysAwaitingRotation row, one point write each), the device index entry
    // turned pending and confirmed after (the list shows the rotation), and the record with the read's
    // audit twin after its AuditLog rows (2 transactions). Before all that, the read's record written
    // beside the read (a transaction; its AuditLog rows are then rewritten with the disclosure, in place).
    // Points and one partition query: no scan.
    const reveal = () => send('GET', `${item(body.id!)}?$select=key`, reader);
    expect((await classes('GET a key, $select=key (the first: disclosed)', reveal)).classes).toEqual([
      'batch $batch',
      'batch $batch',
      'batch $batch',
      'partition RecoveryKeys',
      'point KeyDisclosures',
      'point KeysAwaitingRotation',
      'point RecoveryKeysByDevice',
      'point RecoveryKeysByDevice',
    ]);
    // A later reveal is a plain read: the record, and its AuditLog rows, in flight together (the answer
    // waits for both: one round trip); the rows are completed with the key's device after the answer.
    const later = await classes('GET a key, $select=key (a later one)', reveal);
    expect(later.classes).toEqual(['batch $batch', 'batch $batch', 'partition RecoveryKeys']);
    const [read] = requestsOf(later, 'partition RecoveryKeys');
    const [record, completed] = requestsOf(later, 'batch $batch');
    expect({ together: inFlightTogether(read, record), completedAfterRead: completed.start >= read.end }).toEqual({
      together: true,
      completedAfterRead: true,
    });
    // A delete and a restore move the key between the device index and the deleted keys' index: each
    // entry and row turned pending before the record's transaction, confirmed or removed after it.
    const moves = [
      'point DeletedRecoveryKeys',
      'point DeletedRecoveryKeys',
      'point RecoveryKeys',
      'point RecoveryKeysByDevice',
      'point RecoveryKeysByDevice',
    ];
    const deleteKey = await classes('DELETE a key', () => send('DELETE', item(body.id!), writer), 204);
    expect(deleteKey.classes).toEqual(['batch $batch', 'batch $batch', ...moves]);
    const restore = `/v1.0/directory/deletedItems/${body.id!}/restore`;
    const restoreKey = await classes('POST deletedItems/{id}/restore', () => send('POST', restore, writer));
    expect(restoreKey.classes).toEqual(['batch $batch', 'batch $batch', ...moves]);
  });

  test('lists of keys: one partition or key-range query a page', async () => {
    const byDevice = listPath({ $filter: `deviceId eq '${size.device}'` });
    expect((await classes('GET list by deviceId', () => send('GET', byDevice, reader))).classes).toEqual([
      'partition RecoveryKeysByDevice',
    ]);
    const byPrefix = listPath({ $filter: `startswith(id,'${size.busyKey.slice(0, 4)}')` });
    expect((await classes("GET list startswith(id,'…')", () => send('GET', byPrefix, reader))).classes).toEqual(['key-range RecoveryKeys']);
    const byId = listPath({ $filter: `id eq '${size.busyKey}'` });
    expect((await classes("GET list id eq '…'", () => send('GET', byId, reader))).classes).toEqual(['partition RecoveryKeys']);
  });

  test(`a device's first list after ${NEW_KEYS} new keys: at most ${CHECKS_PER_PAGE} record reads a page, confirmed in one transaction`, async () => {
    const path = listPath({ $filter: `deviceId eq '${size.newKeysDevice}'` });
    const onePage = [
      'batch $batch',
      'partition RecoveryKeysByDevice',
      ...Array.from({ length: CHECKS_PER_PAGE }, () => 'point RecoveryKeys'),
    ];
    const first = await classes('GET list by deviceId, first after new keys', () => send('GET', path, reader));
    expect(first.classes).toEqual(onePage);
    // The record reads run side by side (3 in a row on a quiet machine); how many overlap is the machine's
    // timing, so the bound is the page's own: the index query, its reads, the confirmation.
    expect(first.inARow).toBeLessThanOrEqual(2 + CHECKS_PER_PAGE);
    // The next lists trust what earlier ones confirmed and check the next ones, never more a page; then the
    // backlog is gone. (A confirmation is best effort with a deadline of its own: on a loaded machine one
    // may lapse, and its entries are checked again, so the number of lists is not pinned, only its end.)
    let last = first;
    for (let lists = 0; lists < 6 && last.total > 1; lists++) {
      last = await classes('GET list by deviceId, the next after new keys', () => send('GET', path, reader));
      expect(last.total).toBeLessThanOrEqual(onePage.length);
    }
    expect(last.classes).toEqual(['partition RecoveryKeysByDevice']);
  });

  test('the unfiltered list and deleted keys: one key-range query of an index a page, every row read a listed key', async () => {
    // The device index read as key ranges: only live keys' entries, whatever the records' partitions
    // hold (audit twins, deleted keys). An entry still pending is checked as a device's list checks it.
    const all = await classes('GET list, no filter ($top=10)', () => send('GET', listPath({ $top: '10' }), reader));
    expect(all.classes).toEqual(['key-range RecoveryKeysByDevice']);
    expect((await send('GET', listPath({ $top: '10' }), reader)).json.value).toHaveLength(10);
    const next = String((await send('GET', listPath({ $top: '10' }), reader)).json['@odata.nextLink']);
    const nextPage = await classes('GET list, no filter, the next page', () =>
      callOn(size.host.url, 'GET', next.replace(/^https?:\/\/[^/]+/, ''), { token: reader }),
    );
    // A page that ended inside a device's partition: the rest of that partition, then the devices after it.
    expect(nextPage.classes.length).toBeLessThanOrEqual(2);
    expect(nextPage.classes.every((c) => ['partition RecoveryKeysByDevice', 'key-range RecoveryKeysByDevice'].includes(c))).toBe(true);
    // The deleted keys' own index: one row for each deleted key, however many live keys lie between them.
    const deletedPath = '/v1.0/directory/deletedItems/microsoft.graph.bitlockerRecoveryKey?$top=10';
    const deleted = await classes('GET deletedItems ($top=10)', () => send('GET', deletedPath, reader));
    expect(deleted.classes).toEqual(['key-range DeletedRecoveryKeys']);
    expect((await send('GET', deletedPath, reader)).json.value).toHaveLength(Math.min(10, 2 * scale));
  });

  test('the audit trail: one partition query per shard a page, at any depth; a key history one partition query', async () => {
    // The newest rows are writes whose twins no page has looked up yet: a page looks up those of at most
    // TWIN_LOOKUPS keys (one partition query each) and confirms them (a transaction per audit partition).
    const first = await classes('GET directoryAudits ($top=50), writes not yet confirmed', () =>
      send('GET', auditsPath({ $top: '50' }), auditor),
    );
    const bound = [...ALL_SHARDS, ...Array.from({ length: TWIN_LOOKUPS }, () => 'partition RecoveryKeys')];
    expect(first.classes.filter((c) => c !== 'batch $batch')).toEqual(bound.sort());
    expect(first.classes.filter((c) => c === 'batch $batch').length).toBeLessThanOrEqual(TWIN_LOOKUPS);
    for (let i = 0; i < 8; i++) await send('GET', auditsPath({ $top: '50' }), auditor);
    const page = await classes('GET directoryAudits ($top=50)', () => send('GET', auditsPath({ $top: '50' }), auditor));
    expect(page.classes).toEqual(ALL_SHARDS);
    const next = String((await send('GET', auditsPath({ $top: '50' }), auditor)).json['@odata.nextLink']);
    const deeper = await classes('GET directoryAudits, the next page', () =>
      callOn(size.host.url, 'GET', next.replace(/^https?:\/\/[^/]+/, ''), { token: auditor }),
    );
    expect(deeper.classes).toEqual(ALL_SHARDS);
    const reads = auditsPath({ $filter: `activityDisplayName eq '${ACTIVITIES.read.displayName}'`, $top: '50' });
    expect(
      (await classes("GET directoryAudits activityDisplayName eq 'Read BitLocker key'", () => send('GET', reads, auditor))).classes,
    ).toEqual(ALL_SHARDS);
    const hour = auditsPath({ $filter: `activityDateTime ge ${new Date(Date.now() - 3_600_000).toISOString()}`, $top: '50' });
    expect((await classes('GET directoryAudits activityDateTime ge (last hour)', () => send('GET', hour, auditor))).classes).toEqual(
      ALL_SHARDS,
    );
    const byCaller = auditsPath({ $filter: `initiatedBy/app/servicePrincipalId eq '${size.initiated.oid}'` });
    expect((await classes('GET directoryAudits initiatedBy/…/id eq …', () => send('GET', byCaller, auditor))).classes).toEqual(ALL_SHARDS);
    const callers = (await send('GET', byCaller, auditor)).json.value as { id: string }[];
    expect(callers.map((event) => event.id)).toEqual([size.initiated.eventId]);
    const history = auditsPath({ $filter: targetFilter(size.busyKey) });
    const keyHistory = await classes('GET directoryAudits targetResources/any(t:t/id eq …)', () => send('GET', history, auditor));
    expect(keyHistory.classes).toEqual(['partition AuditLog']);
    expect((await send('GET', history, auditor)).json.value).toHaveLength(Math.min(100, size.busyEvents));
  });
});
