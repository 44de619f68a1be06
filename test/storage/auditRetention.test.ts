import { TableClient } from '@azure/data-tables';
import { BlobServiceClient } from '@azure/storage-blob';
import { startAzuriteBlobs, startAzuriteTables, type RunningAzurite, type RunningAzuriteBlobs } from '../../scripts/devhost/azurite';
import { resetSettings } from '../../shared/config';
import { auditEvent, type AuditEvent } from '../../shared/audit/model';
import { contentOf } from '../../shared/audit/entity';
import { listAuditEvents, writeAuditEntry } from '../../shared/audit/store';
import { runAuditRetention } from '../../shared/audit/retention';
import { TABLES } from '../../shared/storage/layout';
import { newId } from '../support/fixtures';

// Audit retention against Azurite (tables and blobs, both private to this file: the job deletes what is
// old in the whole table). Events older than AUDIT_RETENTION_DAYS are exported to the backup container
// as JSON lines of Graph's directoryAudit, one blob per shard page and UTC day, then deleted; a rerun
// writes and deletes nothing; a run that stops after its upload is finished by the next, without a
// second copy. Rows of the earlier by-day layout are moved so that the API lists them.

jest.setTimeout(60_000);

const DAY = 86_400_000;
const NOW = new Date('2026-12-06T12:00:00Z');
const CONTAINER = 'retention-test';

let tables: RunningAzurite;
let blobs: RunningAzuriteBlobs;
const saved = { ...process.env };

const eventAt = (at: Date, activity: AuditEvent['activity'] = 'read'): AuditEvent => ({
  ...auditEvent({ requestId: newId(), caller: { oid: newId(), delegated: false, permissions: new Set() } }, activity, 'success', '', {
    keyId: newId(),
    deviceId: newId(),
  }),
  at,
});

async function exportedLines(): Promise<{ names: string[]; lines: Record<string, unknown>[] }> {
  const container = BlobServiceClient.fromConnectionString(blobs.connectionString).getContainerClient(CONTAINER);
  const names: string[] = [];
  const lines: Record<string, unknown>[] = [];
  for await (const blob of container.listBlobsFlat({ prefix: 'audit-export/' })) {
    names.push(blob.name);
    const text = (await container.getBlobClient(blob.name).downloadToBuffer()).toString('utf8');
    lines.push(
      ...text
        .split('\n')
        .filter(Boolean)
        .map((line) => JSON.parse(line) as Record<string, unknown>),
    );
  }
  return { names: names.sort(), lines };
}

const listedIds = async (): Promise<string[]> => (await listAuditEvents({}, 1000)).items.map((event) => event.id).sort();

beforeAll(async () => {
  [tables, blobs] = await Promise.all([
    startAzuriteTables({ port: 0, inMemory: true, silent: true }),
    startAzuriteBlobs({ inMemory: true }),
  ]);
  process.env.STORAGE_CONNECTION_STRING = tables.connectionString;
  process.env.BACKUP_CONNECTION_STRING = blobs.connectionString;
  process.env.BACKUP_CONTAINER = CONTAINER;
  process.env.AUDIT_RETENTION_DAYS = '400';
  resetSettings();
});

afterAll(async () => {
  process.env = saved;
  resetSettings();
  await Promise.all([tables?.stop(), blobs?.stop()]);
});

const old = [
  eventAt(new Date(NOW.getTime() - 500 * DAY)),
  eventAt(new Date(NOW.getTime() - 401 * DAY), 'update'),
  eventAt(new Date(NOW.getTime() - 401 * DAY - 1000)),
];
const recent = [eventAt(new Date(NOW.getTime() - 399 * DAY)), eventAt(new Date(NOW.getTime() - DAY))];
/** A row as the earlier layout stored it (PartitionKey the inverted UTC day): moved into the sharded one by the job. */
const earlier = eventAt(new Date(NOW.getTime() - 2 * DAY), 'delete');

test('moves rows of the earlier layout, exports what is past the retention as directoryAudit lines, and deletes it', async () => {
  for (const event of [...old, ...recent]) await writeAuditEntry(event);
  const day = earlier.at.toISOString().slice(0, 10).replace(/-/g, '');
  const raw = TableClient.fromConnectionString(tables.connectionString, TABLES.auditLog, { allowInsecureConnection: true });
  await raw.upsertEntity(
    { ...contentOf(earlier, false), partitionKey: String(99_999_999 - Number(day)), rowKey: `x-${earlier.id}` },
    'Replace',
  );
  expect(await listedIds()).toEqual([...old, ...recent].map((e) => e.id).sort());

  const run = await runAuditRetention(NOW);
  expect({ moved: run.moved, exported: run.exported, deleted: run.deleted }).toEqual({ moved: 1, exported: 3, deleted: 3 });
  expect(await listedIds()).toEqual([...recent, earlier].map((e) => e.id).sort());

  const { names, lines } = await exportedLines();
  expect(names).toEqual(run.blobs.sort());
  // Daily blobs: the two events a second apart 401 days ago share a day (and may share a blob).
  expect(new Set(names.map((name) => name.split('/')[1]))).toEqual(new Set(old.map((e) => e.at.toISOString().slice(0, 10))));
  expect(lines.map((line) => line.id).sort()).toEqual(old.map((e) => e.id).sort());
  // The columns a Sentinel rule reads, as Graph's directoryAudit names them.
  const update = lines.find((line) => line.id === old[1].id)!;
  const targets = update.targetResources as { id: string; type: string }[];
  expect({
    activityDisplayName: update.activityDisplayName,
    activityDateTime: update.activityDateTime,
    result: update.result,
    target: { id: targets[0].id, type: targets[0].type },
    initiatedBy: typeof update.initiatedBy,
  }).toEqual({
    activityDisplayName: 'Update BitLocker key',
    activityDateTime: old[1].at.toISOString(),
    result: 'success',
    target: { id: old[1].keyId, type: 'BitLockerKey' },
    initiatedBy: 'object',
  });
});

test('a rerun writes and deletes nothing more', async () => {
  const before = await exportedLines();
  const run = await runAuditRetention(NOW);
  expect(run).toEqual({ moved: 0, exported: 0, deleted: 0, blobs: [] });
  expect(await exportedLines()).toEqual(before);
});

test('a run stopped after its upload is finished by the next, without a second copy', async () => {
  const late = eventAt(new Date(NOW.getTime() - 450 * DAY));
  await writeAuditEntry(late);
  const { tableClient } = await import('../../shared/storage/tables');
  const client = await tableClient(TABLES.auditLog);
  const failDeletes = {
    name: 'failDeletes',
    sendRequest: () => Promise.reject(Object.assign(new Error('injected'), { statusCode: 503, code: 'ServerBusy' })),
  };
  client.pipeline.addPolicy({
    name: failDeletes.name,
    sendRequest: (request, next) => (request.url.includes('$batch') ? failDeletes.sendRequest() : next(request)),
  });
  await expect(runAuditRetention(NOW)).rejects.toBeDefined();
  client.pipeline.removePolicy({ name: failDeletes.name });
  const uploaded = await exportedLines();
  expect(uploaded.lines.filter((line) => line.id === late.id)).toHaveLength(1);

  const run = await runAuditRetention(NOW);
  expect({ exported: run.exported, deleted: run.deleted }).toEqual({ exported: 0, deleted: 1 });
  const after = await exportedLines();
  expect(after.lines.filter((line) => line.id === late.id)).toHaveLength(1);
  expect(await listedIds()).not.toContain(late.id);
});
