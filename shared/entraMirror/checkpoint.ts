import { createHash } from 'node:crypto';
import { odata, type TransactionAction } from '@azure/data-tables';
import { isStorageError, toStorageError } from '../storage/storageError';
import { tableClient } from '../storage/tables';
import { TABLES } from '../storage/layout';

// The Entra mirror's own state, in Table Storage next to the keys.
//
// Layout, per scope (GRAPH_BASE_URL and the token's tenant: see Checkpoint.scope), written as {s}, the
// first 32 hex digits of the scope's SHA-256 (a URL holds characters keys may not):
//   EntraMirror  PartitionKey 'run',      RowKey 'checkpoint {s}'  the scope's run under way: its id and the next page
//   EntraMirror  PartitionKey 'seen {s}', RowKey key id            a key that tenant listed: lastSeenRun = the last run that saw it
// Each tenant thus resumes only its own run and counts only its own keys as gone: a run against a
// stand-in or another cloud never finds the real tenant's keys "no longer in Entra". (Rows of the
// unscoped layout, 'checkpoint' and 'seen', are no longer read.)
//
// A run saves the checkpoint after each page whose keys are all done (escrowed, or found escrowed), so
// an interrupted run (time budget, crash, redeploy) resumes at the page after the last one finished,
// under the same run id. When a run has listed the last page, the keys whose lastSeenRun is another run
// are those Entra no longer has: they stay in the escrow, and are counted.

const MIRROR_TABLE = TABLES.entraMirror;
const RUN_PARTITION = 'run';
const scopeTag = (scope: string): string => createHash('sha256').update(scope).digest('hex').slice(0, 32);
const checkpointRow = (scope: string): string => `checkpoint ${scopeTag(scope)}`;
const seenPartition = (scope: string): string => `seen ${scopeTag(scope)}`;
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

/** The checkpoint of the last run in `scope`, or undefined if none ever ran there. */
export async function readCheckpoint(scope: string): Promise<Checkpoint | undefined> {
  try {
    const entity = await (await table()).getEntity<CheckpointEntity>(RUN_PARTITION, checkpointRow(scope));
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
    rowKey: checkpointRow(checkpoint.scope),
    runId: checkpoint.runId,
    scope: checkpoint.scope,
    startedAt: checkpoint.startedAt,
    nextPage: checkpoint.nextPage ?? '',
    pages: checkpoint.pages,
  };
  await stored(async () => (await table()).upsertEntity(entity, 'Replace'));
}

/** Records that this run's listing had these key ids (lower-case GUIDs). */
export async function markSeen(keyIds: readonly string[], { runId, scope }: Checkpoint): Promise<void> {
  // A transaction may not touch one row twice.
  const ids = [...new Set(keyIds)];
  const client = await table();
  for (let i = 0; i < ids.length; i += MAX_BATCH) {
    const actions: TransactionAction[] = ids
      .slice(i, i + MAX_BATCH)
      .map((id) => ['upsert', { partitionKey: seenPartition(scope), rowKey: id, lastSeenRun: runId }, 'Replace']);
    await stored(() => client.submitTransaction(actions));
  }
}

/**
 * How many keys an earlier run of the same scope saw that this run (whose listing is complete) did not:
 * keys that tenant no longer has. Keys seen on another GRAPH_BASE_URL or tenant are not counted.
 */
export async function countNotSeenBy({ runId, scope }: Checkpoint): Promise<number> {
  return stored(async () => {
    const rows = (await table()).listEntities({
      queryOptions: { filter: odata`PartitionKey eq ${seenPartition(scope)} and lastSeenRun ne ${runId}`, select: ['RowKey'] },
    });
    let count = 0;
    for await (const _row of rows) count++;
    return count;
  });
}
