import { randomUUID } from 'node:crypto';
import type { AuditSource } from '../audit/model';
import { settings } from '../config';
import { notFound } from '../http/graphError';
import type { Preconditions } from '../http/preconditions';
import type { StoredRecoveryKey } from './model';
import { checkPreconditions, contention, pinsVersion, successEvent, writeEtag } from './service';
import { isStorageError } from '../storage/storageError';
import * as store from './store';

// Use cases of deleted keys, after Entra ID's deleted items (Graph: directory/deletedItems): a deleted
// key is kept, sealed, for DELETED_KEY_RETENTION_DAYS; within that time it can be listed, read
// (metadata only), restored with its password, or purged; after it, it is gone, whether or not the
// purge job has run yet. Restore and purge are ETag-guarded like every write, and audited with the
// record (restore: in the record's transaction; purge: see store.purgeKey).

const MAX_ATTEMPTS = 5;
const DAY_MS = 24 * 60 * 60 * 1000;

/** A deleted key as directory/deletedItems shows it: its record, with deletedDateTime set. */
export type DeletedKey = StoredRecoveryKey & { deletedDateTime: string };

/** Deleted at or before this instant (ISO 8601 UTC) means past the retention at `now`. */
export function retentionCutoff(now: Date, retentionDays = settings().deletedKeyRetentionDays): string {
  return new Date(now.getTime() - retentionDays * DAY_MS).toISOString();
}

const isDeleted = (key: StoredRecoveryKey | undefined): key is DeletedKey => key?.deletedDateTime !== undefined;

const deletedNotFound = (id: string) => notFound(`Deleted recovery key ${id} was not found (it is not deleted, or it was purged).`);

/** The deleted key `id`, still within its retention at `now`; 404 otherwise. */
async function readDeleted(id: string, now: Date): Promise<DeletedKey> {
  const key = await store.getKey(id);
  if (!isDeleted(key) || key.deletedDateTime <= retentionCutoff(now)) throw deletedNotFound(id);
  return key;
}

/** GET directory/deletedItems/{id}: metadata and deletedDateTime (the password never leaves through here). */
export const getDeletedKey = (id: string, now = new Date()): Promise<DeletedKey> => readDeleted(id, now);

/** One page of deleted keys still within their retention; a storage query on deletedDateTime, live keys are not read. */
export async function listDeletedKeys(pageSize: number, continuation?: string, now = new Date()): Promise<store.Page<DeletedKey>> {
  const page = await store.listDeleted({ deletedAfter: retentionCutoff(now) }, pageSize, continuation);
  return { ...page, items: page.items.filter(isDeleted) };
}

/**
 * Runs `attempt` against a fresh read of the deleted key until it wins its ETag race: a lost race
 * (412) is tried again from a fresh read unless the client pinned the version with If-Match.
 */
async function withDeletedKey<T>(
  id: string,
  pre: Preconditions,
  now: Date,
  attempt: (key: DeletedKey, etag: string) => Promise<T>,
): Promise<T> {
  for (let tries = 0; tries < MAX_ATTEMPTS; tries++) {
    const key = await store.getKey(id);
    const current = isDeleted(key) ? key : undefined;
    checkPreconditions(current, pre);
    if (!current) throw deletedNotFound(id);
    try {
      return await attempt(current, writeEtag(current, pre));
    } catch (error) {
      if (isStorageError(error, 'gone')) throw deletedNotFound(id);
      if (!(isStorageError(error, 'versionMoved') && !pinsVersion(pre))) throw error;
    }
  }
  throw contention();
}

/** POST directory/deletedItems/{id}/restore: the key is live again, password intact, back in its device's list. */
export function restoreDeletedKey(id: string, pre: Preconditions, source: AuditSource, now = new Date()): Promise<StoredRecoveryKey> {
  return withDeletedKey(id, pre, now, async (current, etag) => {
    if (current.deletedDateTime <= retentionCutoff(now)) throw deletedNotFound(id);
    const { deletedDateTime: _deleted, etag: _etag, ...restored } = current;
    return store.restoreKey(restored, etag, successEvent(source, 'restore', current));
  });
}

/** DELETE directory/deletedItems/{id}: the key and its password are gone for good (BitLockerKey.Purge.All). */
export function purgeDeletedKey(id: string, pre: Preconditions, source: AuditSource): Promise<DeletedKey> {
  return withDeletedKey(id, pre, new Date(), async (current, etag) => {
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
 */
export async function purgeExpiredKeys(now: Date, source: AuditSource, retentionDays?: number): Promise<PurgeExpiredResult> {
  const cutoff = retentionCutoff(now, retentionDays);
  const result: PurgeExpiredResult = { expired: 0, purged: 0, skipped: 0, failed: [] };
  let continuation: string | undefined;
  do {
    // Purged rows do not move the storage continuation (it names the next partition), so paging on is safe.
    const page = await store.listDeleted({ deletedUpTo: cutoff }, PURGE_PAGE_SIZE, continuation);
    for (const key of page.items.filter(isDeleted)) {
      result.expired++;
      const reason = `Retention ended: deleted ${key.deletedDateTime}, kept ${retentionDays ?? settings().deletedKeyRetentionDays} days.`;
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
