import { randomUUID } from 'node:crypto';
import type { AuditSource } from '../audit/model';
import { settings } from '../config';
import { recordCommandRun } from '../audit/commandRun';
import { type GraphError, notFound } from '../errors/graphError';
import type { Preconditions } from '../http/preconditions';
import type { StoredRecoveryKey } from './model';
import { successEvent, writeCurrentVersion } from './service';
import { isStorageError } from '../storage/storageError';
import * as store from './store';
import type { DeletedMetadata } from './deletedIndex';

// Use cases of deleted keys, after Entra ID's deleted items (Graph: directory/deletedItems): a deleted
// key is kept, sealed, for DELETED_KEY_RETENTION_DAYS; within that time it can be listed, read
// (metadata only), restored with its password, or purged; after it, it is gone, whether or not the
// purge job has run yet. Restore and purge are ETag-guarded like every write, and audited with the
// record (restore: in the record's transaction; purge: see store.purgeKey).

const DAY_MS = 24 * 60 * 60 * 1000;

/** A deleted key as directory/deletedItems shows it: its record, with deletedDateTime set. */
export type DeletedKey = StoredRecoveryKey & { deletedDateTime: string };

/** Deleted at or before this instant (ISO 8601 UTC) means past the retention at `now`. */
export function retentionCutoff(now: Date, retentionDays = settings().deletedKeyRetentionDays): string {
  return new Date(now.getTime() - retentionDays * DAY_MS).toISOString();
}

const isDeleted = (key: StoredRecoveryKey | undefined): key is DeletedKey => key?.deletedDateTime !== undefined;

const deletedOnly = (key: StoredRecoveryKey | undefined): DeletedKey | undefined => (isDeleted(key) ? key : undefined);

/** Deleted at or before the retention's cutoff at `now`: gone for every read, even before the purge job runs. */
const isPastRetention = (key: DeletedKey, now: Date, days?: number): boolean => key.deletedDateTime <= retentionCutoff(now, days);

const deletedNotFoundMessage = (id: string): string => `Deleted recovery key ${id} was not found (it is not deleted, or it was purged).`;

/** The answer to a read of deleted key `id` that finds none; a deleted key the caller may not see answers the same. */
export const deletedKeyNotFound = (id: string): GraphError => notFound(deletedNotFoundMessage(id));

/** GET directory/deletedItems/{id}: metadata and deletedDateTime (the password never leaves through here); 404 past its retention at `now`. */
export async function getDeletedKey(id: string, now = new Date()): Promise<DeletedKey> {
  const key = deletedOnly(await store.getKey(id));
  if (!key || isPastRetention(key, now)) throw deletedKeyNotFound(id);
  return key;
}

/**
 * One page of deleted keys still within their retention at `now`, in key id order: from the deleted-keys
 * index (deletedIndex.ts), one key-range query and at most CHECKS_PER_PAGE record reads, whatever the tables hold.
 */
export function listDeletedKeys(pageSize: number, continuation?: string, now = new Date()): Promise<store.Page<DeletedMetadata>> {
  return store.listDeletedPage(retentionCutoff(now), pageSize, continuation);
}

/** POST directory/deletedItems/{id}/restore: the key is live again, password intact, back in its device's list. */
export function restoreDeletedKey(id: string, pre: Preconditions, source: AuditSource, now = new Date()): Promise<StoredRecoveryKey> {
  return writeCurrentVersion(id, pre, deletedOnly, deletedNotFoundMessage(id), (current, etag) => {
    if (isPastRetention(current, now)) throw notFound(deletedNotFoundMessage(id));
    const { deletedDateTime: _deleted, etag: _etag, ...restored } = current;
    return store.restoreKey(restored, etag, successEvent(source, 'restore', current));
  });
}

/** DELETE directory/deletedItems/{id}: the key and its password are gone for good (BitLockerKey.Purge.All). */
export function purgeDeletedKey(id: string, pre: Preconditions, source: AuditSource): Promise<DeletedKey> {
  return writeCurrentVersion(id, pre, deletedOnly, deletedNotFoundMessage(id), async (current, etag) => {
    await store.purgeKey(current, etag, successEvent(source, 'purge', current, 'Purged on request.'));
    return current;
  });
}

export interface PurgeExpiredResult {
  /** Deleted keys found past their retention. */
  expired: number;
  purged: number;
  /** Changed (restored, purged) by someone else between the query and the purge; a later run looks again. */
  skipped: number;
  /** Ids whose purge failed for another reason, with that reason. */
  failed: { id: string; reason: string }[];
  /** Deleted keys the deleted-keys index lacked (deleted before it existed), added on the way. */
  indexed: number;
}

/** Who the audit trail names for the purge job: the service itself, no caller. */
export function systemSource(trigger: string): AuditSource {
  return { caller: { permissions: new Set(), delegated: false }, requestId: randomUUID(), userAgent: trigger };
}

const PURGE_PAGE_SIZE = 100;

/**
 * Purges every deleted key past its retention at `now` (the clock is a parameter so that a test or
 * an operator can run the job as of another time). Each purge is ETag-guarded against the version the
 * query returned, so a key restored meanwhile is left alone; each is audited as 'Purge' with the reason.
 * The job reads every deleted record (a scan, in pages, as before: a job's, not a request's) and adds
 * those the deleted-keys index lacks to it (store.indexDeleted): the upgrade's backfill, resumed by every run.
 */
export async function purgeExpiredKeys(now: Date, source: AuditSource, retentionDays?: number): Promise<PurgeExpiredResult> {
  const days = retentionDays ?? settings().deletedKeyRetentionDays;
  await recordCommandRun(source, `purge-expired as of ${now.toISOString()}`);
  const result: PurgeExpiredResult = { expired: 0, purged: 0, skipped: 0, failed: [], indexed: 0 };
  let continuation: string | undefined;
  do {
    // Purged rows do not move the storage continuation (it names the next partition), so paging on is safe.
    const page = await store.scanDeleted(PURGE_PAGE_SIZE, continuation);
    const deleted = page.items.filter(isDeleted);
    result.indexed += await store.indexDeleted(deleted.filter((key) => !isPastRetention(key, now, days)));
    for (const key of deleted.filter((key) => isPastRetention(key, now, days))) {
      result.expired++;
      const reason = `Retention ended: deleted ${key.deletedDateTime}, kept ${days} days.`;
      try {
        await store.purgeKey(key, key.etag, successEvent(source, 'purge', key, reason));
        result.purged++;
      } catch (error) {
        if (isStorageError(error, 'versionMoved', 'gone')) result.skipped++;
        else result.failed.push({ id: key.id, reason: error instanceof Error ? error.message : String(error) });
      }
    }
    continuation = page.continuation;
  } while (continuation !== undefined);
  return result;
}
