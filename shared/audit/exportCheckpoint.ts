import { odata } from '@azure/data-tables';
import { isStorageError } from '../storage/storageError';
import { storageCall } from '../storage/storageCall';
import { tableClient } from '../storage/tables';
import { TABLES } from '../storage/layout';

// How far the audit trail has been exported to Log Analytics (shared/audit/logsExport.ts): one row of
// the AuditExport table per data collection rule and stream,
//   PartitionKey 'logsIngestion', RowKey '{rule id} {stream}',
// holding the instant every event at or before which has been accepted by the Logs Ingestion API.
// Another rule (a new workspace) starts afresh. The row is written with its ETag: a run whose
// checkpoint was changed meanwhile (another run, or an operator moving it back to re-export a span)
// stops rather than overwrite it, and the next run starts from what is stored. Key reads merged back
// from the audit outbox keep their own (earlier) time, so the merge moves the checkpoint back before
// them (rewindExportCheckpoint): the next run sends them, and what follows them again.

const PARTITION = 'logsIngestion';
const SUBJECT = 'The audit export checkpoint';

export interface ExportCheckpoint {
  /** Every event at or before this instant has been accepted. */
  exportedThrough: Date;
  /** Events accepted since the row was created (a resent event counts again). */
  exportedEvents: number;
  /** The stored row's ETag; undefined before the first save. */
  etag?: string;
}

interface CheckpointEntity {
  partitionKey: string;
  rowKey: string;
  exportedThrough: string;
  exportedEvents: number;
  updatedAt: string;
}

const rowOf = (ruleId: string, stream: string): string => `${ruleId} ${stream}`;

/** The stored checkpoint of a rule and stream; undefined before its first export. */
export async function readExportCheckpoint(ruleId: string, stream: string): Promise<ExportCheckpoint | undefined> {
  const table = await tableClient(TABLES.auditExport);
  try {
    const row = await storageCall(() => table.getEntity<CheckpointEntity>(PARTITION, rowOf(ruleId, stream)), SUBJECT);
    return { exportedThrough: new Date(row.exportedThrough), exportedEvents: row.exportedEvents, etag: row.etag };
  } catch (error) {
    if (isStorageError(error, 'gone')) return undefined;
    throw error;
  }
}

/**
 * Saves `next` in place of `previous` (by its ETag; created when it had none) and returns it with its
 * new ETag. Throws a StorageError `versionMoved` or `exists` when the row changed meanwhile.
 */
export async function saveExportCheckpoint(
  ruleId: string,
  stream: string,
  previous: ExportCheckpoint | undefined,
  next: Omit<ExportCheckpoint, 'etag'>,
): Promise<ExportCheckpoint> {
  const table = await tableClient(TABLES.auditExport);
  const entity: CheckpointEntity = {
    partitionKey: PARTITION,
    rowKey: rowOf(ruleId, stream),
    exportedThrough: next.exportedThrough.toISOString(),
    exportedEvents: next.exportedEvents,
    updatedAt: new Date().toISOString(),
  };
  const { etag } = await storageCall(
    () => (previous?.etag === undefined ? table.createEntity(entity) : table.updateEntity(entity, 'Replace', { etag: previous.etag })),
    SUBJECT,
  );
  return { ...next, etag };
}

/** Tries of a rewind that lost a race with a run saving its progress. */
const REWIND_ATTEMPTS = 5;

/**
 * Moves every export's checkpoint (each rule and stream that has one, configured here or not: the
 * operator's `npm run backup` merges without the app's settings) back to just before `at`, so that
 * events stored late with their own time (the audit outbox's) are exported. A checkpoint already before
 * `at` is written again unchanged: its new ETag stops a run that read its window before those events
 * were stored from saving past them (the run's save fails `versionMoved`; the next run reads again).
 */
export async function rewindExportCheckpoint(at: Date): Promise<void> {
  const table = await tableClient(TABLES.auditExport);
  const rows = await storageCall(async () => {
    const found: { ruleId: string; stream: string }[] = [];
    const entities = table.listEntities<CheckpointEntity>({
      queryOptions: { filter: odata`PartitionKey eq ${PARTITION}`, select: ['RowKey'] },
    });
    for await (const { rowKey } of entities) {
      const [ruleId, stream] = rowKey.split(' ');
      if (stream !== undefined) found.push({ ruleId, stream });
    }
    return found;
  }, SUBJECT);
  for (const { ruleId, stream } of rows) await rewindOne(ruleId, stream, at);
}

async function rewindOne(ruleId: string, stream: string, at: Date): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    const stored = await readExportCheckpoint(ruleId, stream);
    if (stored === undefined) return;
    const before = new Date(at.getTime() - 1);
    try {
      await saveExportCheckpoint(ruleId, stream, stored, {
        exportedThrough: stored.exportedThrough < before ? stored.exportedThrough : before,
        exportedEvents: stored.exportedEvents,
      });
      return;
    } catch (error) {
      if (!isStorageError(error, 'versionMoved') || attempt === REWIND_ATTEMPTS) throw error;
    }
  }
}
