import { odata, type TableEntityResult, type TransactionAction } from '@azure/data-tables';
import { backupContainer } from '../backup/blobs';
import { settings } from '../config';
import { firstPage } from '../storage/firstPage';
import { isStorageError } from '../storage/storageError';
import { storageCall } from '../storage/storageCall';
import { tableClient } from '../storage/tables';
import { type AuditEntity, fromEntity, keysOfStored, rowsOfStored } from './entity';
import { directoryAudit } from './representation';
import { familyEnd, FIRST_SHARD_PARTITION, invertedMs, rowsOf, SHARD_PARTITIONS, TIME_FAMILY } from './rows';
import { AUDIT_TABLE, writeRows } from './store';

// Audit retention (AUDIT_RETENTION_DAYS): events older than the retention are exported, then deleted.
// The export goes to the backup container (BACKUP_CONTAINER, in another storage account, under a
// time-based immutability policy: shared/backup/), as JSON lines of Graph's directoryAudit, one blob per
// page of one shard and one UTC day: `audit-export/{YYYY-MM-DD}/{shard}-{first position}.jsonl`. A page
// is read, written (if its blob is not there yet), then its events' rows deleted; the next page is read
// afresh. A run that stops anywhere is resumed by the next: a page already written is not written
// again (the blob's name is the page's first event), and nothing is deleted before it is in a blob.
// Without a backup container nothing is deleted.
//
// The same job moves rows of the earlier by-day layout into the sharded one (rows.ts) first, so that
// the API lists them: each old row's rows are written, then it is deleted (idempotent, resumable).

const EXPORT_PREFIX = 'audit-export/';
/** Events a page of the export holds: its blob's lines. */
const EXPORT_PAGE = 500;
const DAY_MS = 86_400_000;

export interface RetentionRun {
  /** Rows of the earlier layout moved into the sharded one. */
  moved: number;
  /** Events written to export blobs by this run. */
  exported: number;
  /** Events whose rows were deleted. */
  deleted: number;
  /** The blobs this run wrote. */
  blobs: string[];
}

/** Deletes every row of the given events of one partition, whole events to a transaction (a missing row is no failure). */
async function deleteEvents(partitionKey: string, rows: AuditEntity[]): Promise<void> {
  const client = await tableClient(AUDIT_TABLE);
  const rowKeys = rows.map((row) => rowsOf(keysOfStored(row)).rowKeys);
  for (let i = 0; i < rowKeys.length; i += 33) {
    const actions = rowKeys
      .slice(i, i + 33)
      .flatMap((keys) => keys.map((rowKey): TransactionAction => ['delete', { partitionKey, rowKey }]));
    try {
      await client.submitTransaction(actions);
    } catch (error) {
      if (!isStorageError(error, 'gone')) throw error;
      // One row already gone (a run stopped halfway through an earlier version's delete): one at a time.
      for (const [, entity] of actions as ['delete', { partitionKey: string; rowKey: string }][]) {
        await client.deleteEntity(entity.partitionKey, entity.rowKey).catch((failure: unknown) => {
          if (!isStorageError(failure, 'gone')) throw failure;
        });
      }
    }
  }
}

/** Moves the rows of the earlier layout (PartitionKey below 's') into the sharded one; how many. */
export async function moveEarlierLayout(): Promise<number> {
  const client = await tableClient(AUDIT_TABLE);
  let moved = 0;
  for (;;) {
    const page = await storageCall(async () =>
      firstPage(
        client
          .listEntities<AuditEntity>({ queryOptions: { filter: odata`PartitionKey lt ${FIRST_SHARD_PARTITION}` } })
          .byPage({ maxPageSize: 100 }),
      ),
    );
    if (!page || page.length === 0) return moved;
    for (const row of page) {
      await writeRows(rowsOfStored(row));
      await client.deleteEntity(row.partitionKey!, row.rowKey!).catch((failure: unknown) => {
        if (!isStorageError(failure, 'gone')) throw failure;
      });
      moved++;
    }
  }
}

/** A page of the time rows of one shard at or before `cutoff`, newest first. */
async function expiredPage(partition: string, cutoff: Date): Promise<TableEntityResult<AuditEntity>[]> {
  const client = await tableClient(AUDIT_TABLE);
  const filter = odata`PartitionKey eq ${partition} and RowKey ge ${`${TIME_FAMILY}${invertedMs(cutoff.getTime())}`} and RowKey lt ${familyEnd(TIME_FAMILY)}`;
  const page = await storageCall(async () =>
    firstPage(client.listEntities<AuditEntity>({ queryOptions: { filter } }).byPage({ maxPageSize: EXPORT_PAGE })),
  );
  return page ?? [];
}

/** Writes one blob of events unless it is there already (an earlier run wrote it); whether this call wrote it. */
async function exportBlob(name: string, rows: AuditEntity[]): Promise<boolean> {
  const container = await backupContainer();
  const lines = rows.filter((row) => row.withdrawn !== true).map((row) => JSON.stringify(directoryAudit(fromEntity(row))));
  const body = Buffer.from(lines.length > 0 ? `${lines.join('\n')}\n` : '');
  try {
    await container
      .getBlockBlobClient(name)
      .uploadData(body, { conditions: { ifNoneMatch: '*' }, blobHTTPHeaders: { blobContentType: 'application/x-ndjson' } });
    return true;
  } catch (error) {
    if ((error as { statusCode?: number }).statusCode === 409) return false;
    throw error;
  }
}

/**
 * One run: moves rows of the earlier layout, then exports and deletes every event older than
 * AUDIT_RETENTION_DAYS before `now`. Throws when storage or the container fails (the next run goes on).
 */
export async function runAuditRetention(now: Date = new Date()): Promise<RetentionRun> {
  const run: RetentionRun = { moved: await moveEarlierLayout(), exported: 0, deleted: 0, blobs: [] };
  if (settings().backup === undefined) return run;
  const cutoff = new Date(now.getTime() - settings().auditRetentionDays * DAY_MS);
  for (const partition of SHARD_PARTITIONS) {
    for (;;) {
      const rows = await expiredPage(partition, cutoff);
      if (rows.length === 0) break;
      // One blob per UTC day of the page, named by its first (newest) event.
      const byDay = new Map<string, TableEntityResult<AuditEntity>[]>();
      for (const row of rows) {
        const day = row.activityDateTime.slice(0, 10);
        byDay.set(day, [...(byDay.get(day) ?? []), row]);
      }
      for (const [day, dayRows] of byDay) {
        const name = `${EXPORT_PREFIX}${day}/${partition}-${dayRows[0].rowKey!.slice(TIME_FAMILY.length)}.jsonl`;
        if (await exportBlob(name, dayRows)) {
          run.blobs.push(name);
          run.exported += dayRows.length;
        }
        await deleteEvents(partition, dayRows);
        run.deleted += dayRows.length;
      }
    }
  }
  return run;
}
