import { isStorageError } from '../storage/storageError';
import { storageCall } from '../storage/storageCall';
import { tableClient } from '../storage/tables';
import { IMPORT_CHECKPOINT_PARTITION, TABLES } from '../storage/layout';

// Where an import of a key file stands, so that a run stopped anyhow (Ctrl-C, SIGKILL, a lost
// connection) continues where it was instead of reading every stored key again:
//   KeyImports  PartitionKey 'checkpoint', RowKey = the import's identity (the file's SHA-256 with the
//               options that change what a row means), doneThrough = the last line up to which every
//               row is finished, conflicts and deleted = how many of those rows were left as they are
//               (reported then; counted again by the run that resumes, whose exit code says so)
// Rows are stored several at a time and finish out of order: the line saved is one below the first
// row still in flight or failed, never beyond, so a resumed run redoes at most the rows that were in
// flight (each found stored and left as it is: nothing is written twice) and never skips one that was
// not done. A run that finishes every row removes its row: running the file again then checks every key.

/** Where an import stands: every row up to `doneThrough` finished, so many of them left as they are. */
export interface ImportPosition {
  doneThrough: number;
  conflicts: number;
  deleted: number;
}

interface CheckpointEntity extends Partial<ImportPosition> {
  partitionKey: string;
  rowKey: string;
  savedAt: string;
}

const START: ImportPosition = { doneThrough: 0, conflicts: 0, deleted: 0 };
const count = (value: unknown): number => (typeof value === 'number' ? value : 0);

const table = () => tableClient(TABLES.keyImports);
const SUBJECT = 'The import checkpoint';

/** Where earlier runs of this import stopped; line 0 if none ran. */
export async function readImportCheckpoint(importId: string): Promise<ImportPosition> {
  try {
    const entity = await storageCall(
      async () => (await table()).getEntity<CheckpointEntity>(IMPORT_CHECKPOINT_PARTITION, importId),
      SUBJECT,
    );
    return { doneThrough: count(entity.doneThrough), conflicts: count(entity.conflicts), deleted: count(entity.deleted) };
  } catch (error) {
    if (isStorageError(error, 'gone')) return START;
    throw error;
  }
}

export async function saveImportCheckpoint(importId: string, position: ImportPosition): Promise<void> {
  const entity: CheckpointEntity = {
    partitionKey: IMPORT_CHECKPOINT_PARTITION,
    rowKey: importId,
    ...position,
    savedAt: new Date().toISOString(),
  };
  await storageCall(async () => (await table()).upsertEntity(entity, 'Replace'), SUBJECT);
}

export async function removeImportCheckpoint(importId: string): Promise<void> {
  try {
    await storageCall(async () => (await table()).deleteEntity(IMPORT_CHECKPOINT_PARTITION, importId), SUBJECT);
  } catch (error) {
    if (!isStorageError(error, 'gone')) throw error;
  }
}
