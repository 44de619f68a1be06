import { odata, type TransactionAction } from '@azure/data-tables';
import { isStorageError, toStorageError } from '../storage/storageError';
import { tableClient } from '../storage/tables';
import { TABLES } from '../storage/layout';

// The Entra mirror's own state, in Table Storage next to the keys.
//
// Layout:
//   EntraMirror  PartitionKey 'run',  RowKey 'checkpoint'  the run under way: its id and the next page to list
//   EntraMirror  PartitionKey 'seen', RowKey key id        a key Entra ID listed: lastSeenRun = the last run that saw it
//
// A run saves the checkpoint after each page whose keys are all done (escrowed, or found escrowed), so
// an interrupted run (time budget, crash, redeploy) resumes at the page after the last one finished,
// under the same run id. When a run has listed the last page, the keys whose lastSeenRun is another run
// are those Entra no longer has: they stay in the escrow, and are counted.

const MIRROR_TABLE = TABLES.entraMirror;
const RUN_PARTITION = 'run';
const CHECKPOINT_ROW = 'checkpoint';
const SEEN_PARTITION = 'seen';
/** Azure Table Storage takes at most 100 operations in one transaction. */
const MAX_BATCH = 100;

export interface Checkpoint {
  runId: string;
  /** Which tenant the run lists: GRAPH_BASE_URL and the token's tenant id. A checkpoint of another is never resumed. */
  scope: string;
  /** ISO date-time the run began (its first page). */
  startedAt: string;
  /** Path and query of the next page to list, relative to GRAPH_BASE_URL; undefined once the last page is done. */
  nextPage?: string;
  /** Pages finished so far in this run. */
  pages: number;
}

interface CheckpointEntity {
  partitionKey: string;
  rowKey: string;
  runId: string;
  scope: string;
  startedAt: string;
  nextPage: string;
  pages: number;
}

const table = () => tableClient(MIRROR_TABLE);

async function stored<T>(what: () => Promise<T>): Promise<T> {
  try {
    return await what();
  } catch (error) {
    throw toStorageError(error, 'The Entra mirror checkpoint');
  }
}

/** The checkpoint of the last run, or undefined if none ever ran. */
export async function readCheckpoint(): Promise<Checkpoint | undefined> {
  try {
    const entity = await (await table()).getEntity<CheckpointEntity>(RUN_PARTITION, CHECKPOINT_ROW);
    return {
      runId: entity.runId,
      scope: entity.scope ?? '',
      startedAt: entity.startedAt,
      nextPage: entity.nextPage || undefined,
      pages: entity.pages,
    };
  } catch (error) {
    if (isStorageError(error, 'gone')) return undefined;
    throw toStorageError(error, 'The Entra mirror checkpoint');
  }
}

export async function saveCheckpoint(checkpoint: Checkpoint): Promise<void> {
  const entity: CheckpointEntity = {
    partitionKey: RUN_PARTITION,
    rowKey: CHECKPOINT_ROW,
    runId: checkpoint.runId,
    scope: checkpoint.scope,
    startedAt: checkpoint.startedAt,
    nextPage: checkpoint.nextPage ?? '',
    pages: checkpoint.pages,
  };
  await stored(async () => (await table()).upsertEntity(entity, 'Replace'));
}

/** Records that this run's listing had these key ids (lower-case GUIDs). */
export async function markSeen(keyIds: readonly string[], runId: string): Promise<void> {
  // A transaction may not touch one row twice.
  const ids = [...new Set(keyIds)];
  const client = await table();
  for (let i = 0; i < ids.length; i += MAX_BATCH) {
    const actions: TransactionAction[] = ids
      .slice(i, i + MAX_BATCH)
      .map((id) => ['upsert', { partitionKey: SEEN_PARTITION, rowKey: id, lastSeenRun: runId }, 'Replace']);
    await stored(() => client.submitTransaction(actions));
  }
}

/** How many keys an earlier run saw that the run `runId` (whose listing is complete) did not: keys Entra no longer has. */
export async function countNotSeenBy(runId: string): Promise<number> {
  return stored(async () => {
    const rows = (await table()).listEntities({
      queryOptions: { filter: odata`PartitionKey eq ${SEEN_PARTITION} and lastSeenRun ne ${runId}`, select: ['RowKey'] },
    });
    let count = 0;
    for await (const _row of rows) count++;
    return count;
  });
}
