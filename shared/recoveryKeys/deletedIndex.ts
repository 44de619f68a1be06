import { odata, type TableEntityResult } from '@azure/data-tables';
import { firstPage } from '../storage/firstPage';
import { storageCall } from '../storage/storageCall';
import { isStorageError, toStorageError } from '../storage/storageError';
import { tableClient } from '../storage/tables';
import { DELETED_ROW, TABLES } from '../storage/layout';
import { AFTER_COMMIT_DEADLINE_MS, coveredByChecks, fallbackReads, type MetadataPage, ROTATION_FIELDS, sameRotation } from './deviceIndex';
import { type KeyMetadata, type KeyRotation, rotationOf, VOLUME_TYPES, type VolumeType } from './model';
import { type Resume, resumeOf, tokenOf } from './pageTokens';

// The deleted-keys index (docs/storage.md):
//   DeletedRecoveryKeys  PartitionKey = key id, RowKey = DELETED_ROW,
//                        deviceId, volumeType, createdDateTime, deletedDateTime, the rotation fields
//                        (what directory/deletedItems shows), listed (boolean)
// One row for each deleted key and nothing else, so a page of directory/deletedItems is one key-range
// query that reads only deleted keys, in key id order (the order the records' table gave), however many
// live keys and audit rows the records' table holds. A row to a partition: deletes spread over the
// whole table, and no page confirms more than CHECKS_PER_PAGE rows, each a point write.
//
// The record stays the truth, and the discipline is the device index's (deviceIndex.ts): a change that
// makes the index wrong turns the key's row pending first (listed = false), commits the record, then
// confirms (a delete: listed = true with the copy it wrote) or removes it (a restore, a purge), each
// conditional on the ETag of its own pending write. A delete's pending row carries the copy it will have;
// a restore's or a purge's carries none. Lists trust a confirmed row, and check any other against the
// record (a point read, at most CHECKS_PER_PAGE a page): shown only if the record is deleted, with the
// record's values. On the way they tidy what a crash or a lost race left behind, each conditional on the
// ETag they read:
// - a pending row with the copy the deleted record has is confirmed (no writer can be behind it: a
//   deleted record changes only by a restore or a purge, which turn the row pending again first);
// - a pending row without a copy whose record is no longer deleted is removed (its restore or purge committed);
// - any other pending row is left to its writer for STALE_AFTER_MS (no write lasts that long: a request's
//   storage budget is seconds), then mended from the record: confirmed with its values, or removed.
// So a crash between the steps never hides a deleted key for good, nor shows a live one.
// Keys deleted before this index existed have no row: the purge job adds them (reconcile, below).

const DELETED_INDEX_TABLE = TABLES.deletedKeys;

/** How long a pending row is its writer's; after that a list mends it from the record. */
export const STALE_AFTER_MS = 15 * 60_000;

/** A deleted key as directory/deletedItems lists it: its metadata and when it was deleted. */
export type DeletedMetadata = KeyMetadata & { deletedDateTime: string };

interface DeletedEntity extends KeyRotation {
  deviceId?: string;
  volumeType?: string;
  createdDateTime?: string;
  deletedDateTime?: string;
  listed?: boolean;
}

const deletedIndex = () => tableClient(DELETED_INDEX_TABLE);

function entity(key: DeletedMetadata, listed: boolean) {
  const { id, deviceId, volumeType, createdDateTime, deletedDateTime } = key;
  return { partitionKey: id, rowKey: DELETED_ROW, deviceId, volumeType, createdDateTime, deletedDateTime, ...rotationOf(key), listed };
}

async function upsertPending(pending: { partitionKey: string; rowKey: string; listed: false }): Promise<string> {
  const response = await storageCall(async () => (await deletedIndex()).upsertEntity(pending, 'Replace'));
  return response.etag!;
}

/** Ahead of a delete: the key's row, pending, with the copy it will have once the record is committed; its ETag. */
export const markDeleting = (key: DeletedMetadata): Promise<string> => upsertPending({ ...entity(key, false), listed: false });

/** Ahead of a restore or a purge: the key's row, pending, with no copy; its ETag. */
export const markLeaving = (id: string): Promise<string> => upsertPending({ partitionKey: id, rowKey: DELETED_ROW, listed: false });

/** Best effort after a commit, with a deadline of its own (deviceIndex.ts AFTER_COMMIT_DEADLINE_MS): a row left pending is checked by lists. */
async function afterCommit(write: (abortSignal: AbortSignal) => Promise<unknown>): Promise<void> {
  try {
    await write(AbortSignal.timeout(AFTER_COMMIT_DEADLINE_MS));
  } catch {
    // A 412 or 404 means another writer owns the row now; any other failure leaves it pending, which is safe.
  }
}

/** After a delete's commit, or a list's check: the row trusted with `key`'s values, if still at `etag`. */
export const confirm = (key: DeletedMetadata, etag: string): Promise<void> =>
  afterCommit(async (abortSignal) => (await deletedIndex()).updateEntity(entity(key, true), 'Replace', { etag, abortSignal }));

/** After a restore's or a purge's commit, or a list's check: the row gone, if still at `etag`. */
export const remove = (id: string, etag: string): Promise<void> =>
  afterCommit(async (abortSignal) => (await deletedIndex()).deleteEntity(id, DELETED_ROW, { etag, abortSignal }));

function copyOf(entry: TableEntityResult<DeletedEntity>): DeletedMetadata | undefined {
  const { deviceId, volumeType, createdDateTime, deletedDateTime } = entry;
  if (typeof deviceId !== 'string' || typeof createdDateTime !== 'string' || typeof deletedDateTime !== 'string') return undefined;
  if (!VOLUME_TYPES.includes(volumeType as VolumeType)) return undefined;
  const rotation: KeyRotation = {};
  for (const field of ROTATION_FIELDS) if (typeof entry[field] === 'string') rotation[field] = entry[field];
  return { id: entry.partitionKey!, deviceId, volumeType: volumeType as VolumeType, createdDateTime, deletedDateTime, ...rotation };
}

const sameCopy = (a: DeletedMetadata, b: DeletedMetadata): boolean =>
  a.deviceId === b.deviceId &&
  a.volumeType === b.volumeType &&
  a.createdDateTime === b.createdDateTime &&
  a.deletedDateTime === b.deletedDateTime &&
  sameRotation(a, b);

/** A record as a check reads it: undefined when it is gone. */
export type ReadDeleted = (id: string) => Promise<(KeyMetadata & { deletedDateTime?: string }) | undefined>;

/** What a pending row shows once checked against its record, and how the row is mended. */
async function check(entry: TableEntityResult<DeletedEntity>, readRecord: ReadDeleted, now: Date): Promise<DeletedMetadata | undefined> {
  const record = await fallbackReads.run(() => readRecord(entry.partitionKey!));
  const copy = copyOf(entry);
  const stale = entry.timestamp !== undefined && Date.parse(entry.timestamp) < now.getTime() - STALE_AFTER_MS;
  const etag = entry.etag;
  if (record?.deletedDateTime === undefined) {
    if (etag && (copy === undefined || stale)) await remove(entry.partitionKey!, etag);
    return undefined;
  }
  const { id, deviceId, volumeType, createdDateTime, deletedDateTime } = record;
  const shown: DeletedMetadata = { id, deviceId, volumeType, createdDateTime, deletedDateTime, ...rotationOf(record) };
  if (etag && ((copy && sameCopy(copy, shown)) || stale)) await confirm(shown, etag);
  return shown;
}

/** Above every key id (lowercase GUIDs): the end of the walk. */
const PAST_LAST_KEY = '~';

/**
 * One page of deleted keys still deleted after `cutoff` (ISO 8601 UTC), in key id order: one key-range
 * query, its confirmed rows used as they are, the others checked with `readRecord` (a point read, at most
 * CHECKS_PER_PAGE a page: the page stops before the row that would be one more, and says so with `cut`).
 * Rows past the retention that the purge job has not reached yet are read and not shown.
 */
export async function listPage(
  cutoff: string,
  pageSize: number,
  continuation: string | undefined,
  readRecord: ReadDeleted,
  now = new Date(),
): Promise<MetadataPage<DeletedMetadata>> {
  const resume = resumeOf(continuation);
  const after = resume.kind === 'start' ? '' : resume.partitionKey;
  const page = await storageCall(async () => {
    const rows = (await deletedIndex()).listEntities<DeletedEntity>({
      queryOptions: { filter: odata`PartitionKey gt ${after} and PartitionKey lt ${PAST_LAST_KEY}` },
    });
    return firstPage(rows.byPage({ maxPageSize: pageSize, continuationToken: resume.kind === 'walk' ? resume.storage : undefined }));
  });
  const entries: TableEntityResult<DeletedEntity>[] = page ?? [];
  const trusted = (entry: TableEntityResult<DeletedEntity>): boolean => entry.listed === true && copyOf(entry) !== undefined;
  const covered = coveredByChecks(entries, trusted);
  const shown = await Promise.all(
    entries.slice(0, covered).map(async (entry) => (trusted(entry) ? copyOf(entry) : check(entry, readRecord, now))),
  );
  const cut = covered < entries.length;
  let next: Resume | undefined;
  if (cut) next = { kind: 'after', partitionKey: entries[covered - 1].partitionKey! };
  else if (page?.continuationToken !== undefined) next = { kind: 'walk', partitionKey: after, storage: page.continuationToken };
  return {
    items: shown.filter((key): key is DeletedMetadata => key !== undefined && key.deletedDateTime > cutoff),
    continuation: next && tokenOf(next),
    ...(cut && { cut }),
  };
}

/**
 * For the purge job, over the deleted records it reads (a page of them, in key id order): adds a pending
 * row for each one the index lacks (a key deleted before the index existed, or by an instance of an
 * earlier version), for lists to check and confirm. One key-range query over the page's ids, and one
 * insert per missing row; an insert never replaces a row a writer made meanwhile. How many it added.
 */
export async function reconcile(records: DeletedMetadata[]): Promise<number> {
  if (records.length === 0) return 0;
  const ids = records.map((key) => key.id).sort();
  const present = new Set<string>();
  try {
    const rows = (await deletedIndex()).listEntities({
      queryOptions: { filter: odata`PartitionKey ge ${ids[0]} and PartitionKey le ${ids.at(-1)!}`, select: ['PartitionKey'] },
    });
    for await (const row of rows) present.add(row.partitionKey!);
  } catch (error) {
    throw toStorageError(error);
  }
  const missing = records.filter((key) => !present.has(key.id));
  await Promise.all(
    missing.map(async (key) => {
      try {
        await storageCall(async () => (await deletedIndex()).createEntity({ ...entity(key, false), listed: false }));
      } catch (error) {
        if (!isStorageError(error, 'exists')) throw error;
      }
    }),
  );
  return missing.length;
}
