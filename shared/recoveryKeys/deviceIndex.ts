import { odata, type TableEntityResult } from '@azure/data-tables';
import { InFlightLimit } from '../storage/inFlightLimit';
import { firstPage } from '../storage/firstPage';
import { storageCall } from '../storage/storageCall';
import { tableClient } from '../storage/tables';
import { type KeyMetadata, VOLUME_TYPES, type VolumeType } from './model';
import { TABLES } from '../storage/layout';

// The device index (README "Storage layout"):
//   RecoveryKeysByDevice  PartitionKey = device id, RowKey = key id,
//                         volumeType, createdDateTime (the record's listed metadata), listed (boolean)
// A device's keys are one single-partition query here. The record (RecoveryKeys) stays the truth;
// an entry carries a copy of what a list shows, so that a page of a device's keys needs no read of
// the records, and says whether that copy can be trusted:
//
// - listed = true: the copy equals the record's metadata and the record is not deleted. Lists use
//   it as is.
// - listed = false (pending), or no copy at all (entries written by earlier versions): a list reads
//   the record and shows what the record says, or nothing if the record is gone, deleted or on
//   another device. Those reads are bounded per instance (FALLBACK_READS_IN_FLIGHT).
//
// Every change that makes a trusted copy wrong (a new key, a changed volumeType or deviceId, a
// delete, a restore) first turns the entry pending, then commits the record, then confirms the
// entry (listed = true, the new copy) or removes it, each conditional on the ETag of its own pending
// write. A crash or a lost race anywhere in between leaves a pending entry, which lists check against
// the record: never a trusted copy that disagrees with the record. And a confirmation cannot confirm
// a stale copy: any writer that commits a record after another's commit wrote its own pending entry
// after that one's (read, pending, commit run in that order), which fails the other's If-Match.

const DEVICE_INDEX_TABLE = TABLES.deviceIndex;

/**
 * Point reads of records for entries that cannot be trusted, in flight at once on this instance,
 * across all requests: a list of a thousand legacy entries then waits for its reads instead of
 * putting a thousand requests in front of everyone else's.
 */
export const FALLBACK_READS_IN_FLIGHT = 8;

const fallbackReads = new InFlightLimit(FALLBACK_READS_IN_FLIGHT);

/**
 * Confirming or removing an entry after the record committed is best effort, so it gets a short
 * deadline of its own rather than the whole storage call budget: when storage dies just after a
 * commit, the client's 200 waits at most this much longer, and the entry stays pending (safe).
 */
const AFTER_COMMIT_DEADLINE_MS = 1_000;

interface IndexEntity {
  volumeType?: string;
  createdDateTime?: string;
  listed?: boolean;
}

export interface MetadataPage {
  items: KeyMetadata[];
  /** Opaque storage continuation; absent on the last page. */
  continuation?: string;
}

const deviceIndex = () => tableClient(DEVICE_INDEX_TABLE);

function entity(key: KeyMetadata, listed: boolean) {
  return { partitionKey: key.deviceId, rowKey: key.id, volumeType: key.volumeType, createdDateTime: key.createdDateTime, listed };
}

/** Turns the entry of `key` pending (creating it if absent), ahead of a record change; its new ETag. */
export async function markPending(key: KeyMetadata): Promise<string> {
  const response = await storageCall(async () => (await deviceIndex()).upsertEntity(entity(key, false), 'Replace'));
  return response.etag!;
}

/**
 * After the record was committed: the entry becomes trusted with `key`'s metadata, if no writer
 * turned it pending since `pendingEtag`. Best effort: an entry left pending is only slower to list.
 */
export async function confirm(key: KeyMetadata, pendingEtag: string): Promise<void> {
  try {
    const abortSignal = AbortSignal.timeout(AFTER_COMMIT_DEADLINE_MS);
    await (await deviceIndex()).updateEntity(entity(key, true), 'Replace', { etag: pendingEtag, abortSignal });
  } catch {
    // A 412 means another writer owns the entry now; any other failure leaves it pending, which is safe.
  }
}

/** After the record left the device (moved or deleted): removes the entry if no writer turned it pending since. Best effort. */
export async function remove(deviceId: string, id: string, pendingEtag: string): Promise<void> {
  try {
    const abortSignal = AbortSignal.timeout(AFTER_COMMIT_DEADLINE_MS);
    await (await deviceIndex()).deleteEntity(deviceId, id, { etag: pendingEtag, abortSignal });
  } catch {
    // A stale pending entry is checked against the record by every list; a 412 means a writer needs it again.
  }
}

function trustedCopy(deviceId: string, entry: TableEntityResult<IndexEntity>): KeyMetadata | undefined {
  const { listed, volumeType, createdDateTime } = entry;
  if (listed !== true || typeof createdDateTime !== 'string' || !VOLUME_TYPES.includes(volumeType as VolumeType)) return undefined;
  return { id: entry.rowKey!, deviceId, volumeType: volumeType as VolumeType, createdDateTime };
}

/**
 * One page of a device's keys: one query on the index. Trusted entries are used as they are; the
 * others are each checked with `readRecord` (a point read of the record, bounded per instance),
 * and shown only if the record exists, is live and is still on this device.
 */
export async function listDevicePage(
  deviceId: string,
  pageSize: number,
  continuation: string | undefined,
  readRecord: (id: string) => Promise<(KeyMetadata & { deletedDateTime?: string }) | undefined>,
): Promise<MetadataPage> {
  const page = await storageCall(async () => {
    const entries = (await deviceIndex()).listEntities<IndexEntity>({
      queryOptions: { filter: odata`PartitionKey eq ${deviceId}`, select: ['RowKey', 'volumeType', 'createdDateTime', 'listed'] },
    });
    return firstPage(entries.byPage({ maxPageSize: pageSize, continuationToken: continuation }));
  });
  const entries: TableEntityResult<IndexEntity>[] = page ?? [];
  const items = await Promise.all(
    entries.map(async (entry) => {
      const trusted = trustedCopy(deviceId, entry);
      if (trusted) return trusted;
      const record = await fallbackReads.run(() => readRecord(entry.rowKey!));
      if (!record || record.deletedDateTime !== undefined || record.deviceId !== deviceId) return undefined;
      const { id, volumeType, createdDateTime } = record;
      return { id, deviceId, volumeType, createdDateTime };
    }),
  );
  return { items: items.filter((item): item is KeyMetadata => item !== undefined), continuation: page?.continuationToken };
}
