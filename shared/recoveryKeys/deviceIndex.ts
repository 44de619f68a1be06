import { odata, type TableEntityResult } from '@azure/data-tables';
import { InFlightLimit } from '../storage/inFlightLimit';
import { firstPage } from '../storage/firstPage';
import { storageCall } from '../storage/storageCall';
import { byPartition } from '../storage/byPartition';
import { tableClient } from '../storage/tables';
import { type KeyMetadata, type KeyRotation, rotationOf, VOLUME_TYPES, type VolumeType } from './model';
import { TABLES } from '../storage/layout';

// The device index (README "Storage layout"):
//   RecoveryKeysByDevice  PartitionKey = device id, RowKey = key id,
//                         volumeType, createdDateTime, the rotation fields (the record's listed metadata),
//                         listed (boolean)
// A device's keys are one single-partition query here. The record (RecoveryKeys) stays the truth;
// an entry carries a copy of what a list shows, so that a page of a device's keys needs no read of
// the records, and says whether that copy can be trusted:
//
// - listed = true: the copy equals the record's metadata and the record is not deleted. Lists use
//   it as is.
// - listed = false (pending), or no copy at all (entries written by earlier versions, and entries
//   of a key leaving the device): a list reads the record and shows what the record says, or nothing
//   if the record is gone, deleted or on another device. Those reads are bounded per instance
//   (FALLBACK_READS_IN_FLIGHT).
//
// Every change that makes a trusted copy wrong first turns the entry pending, then commits the record.
// A key arriving on the device (a new key, a changed volumeType, a move here, a restore) writes its
// pending entry with the copy it will have; a key leaving it (a delete, a move away) writes a pending
// entry with no copy. After the commit, the writer confirms the entry (listed = true) or removes it,
// conditional on the ETag of its own pending write; a new key's writer does not (that would be
// the escrow's fourth storage request in a row): its entry is confirmed by the first list that reads
// the record, below. A crash or a lost race anywhere in between leaves a pending entry, which lists
// check against the record: never a trusted copy that disagrees with the record.
//
// Why a confirmation, by the writer or by a list, cannot trust a stale copy: it is conditional on the
// ETag of a pending entry seen BEFORE the record was read (the writer wrote it; a list queried it), and
// every later change of what the list shows turns the entry pending again first, which fails that
// If-Match. A list confirms only an entry whose copy equals the live record it read on this device: a
// writer still in flight behind that pending entry is then one whose commit leaves the list's view as
// it is (an arriving key whose record is not there yet is not live, or not here, or shows another
// copy; a leaving key's entry has no copy).

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

interface IndexEntity extends KeyRotation {
  volumeType?: string;
  createdDateTime?: string;
  listed?: boolean;
}

/** What an entry copies of its record's rotation (model.ts KeyRotation): the annotations a device's list shows. */
const ROTATION_FIELDS = ['disclosedDateTime', 'disclosedBy', 'supersededBy', 'supersededDateTime'] as const;

export interface MetadataPage {
  items: KeyMetadata[];
  /** Opaque storage continuation; absent on the last page. */
  continuation?: string;
}

const deviceIndex = () => tableClient(DEVICE_INDEX_TABLE);

function entity(key: KeyMetadata, listed: boolean) {
  return {
    partitionKey: key.deviceId,
    rowKey: key.id,
    volumeType: key.volumeType,
    createdDateTime: key.createdDateTime,
    ...rotationOf(key),
    listed,
  };
}

/** Whether two copies agree on the rotation. */
export const sameRotation = (a: KeyRotation, b: KeyRotation): boolean => ROTATION_FIELDS.every((field) => a[field] === b[field]);

async function writePending(pending: { partitionKey: string; rowKey: string; listed: false }): Promise<string> {
  const response = await storageCall(async () => (await deviceIndex()).upsertEntity(pending, 'Replace'));
  return response.etag!;
}

/**
 * Turns the entry of `key` pending with the copy it will have once the record is committed (creating it
 * if absent), ahead of a change that brings the key onto its device or changes what the list shows;
 * its new ETag.
 */
export const markPending = (key: KeyMetadata): Promise<string> => writePending({ ...entity(key, false), listed: false });

/** Turns the entry of a key leaving `key.deviceId` (deleted, or moved away) pending with no copy, ahead of the record change; its new ETag. */
export const markLeaving = (key: KeyMetadata): Promise<string> =>
  writePending({ partitionKey: key.deviceId, rowKey: key.id, listed: false });

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

/** The metadata an entry carries, trusted or not; undefined for an entry without a (well-formed) copy. */
function copyOf(deviceId: string, entry: TableEntityResult<IndexEntity>): KeyMetadata | undefined {
  const { volumeType, createdDateTime } = entry;
  if (typeof createdDateTime !== 'string' || !VOLUME_TYPES.includes(volumeType as VolumeType)) return undefined;
  const rotation: KeyRotation = {};
  for (const field of ROTATION_FIELDS) if (typeof entry[field] === 'string') rotation[field] = entry[field];
  return { id: entry.rowKey!, deviceId, volumeType: volumeType as VolumeType, createdDateTime, ...rotation };
}

const sameCopy = (a: KeyMetadata, b: KeyMetadata): boolean =>
  a.volumeType === b.volumeType && a.createdDateTime === b.createdDateTime && sameRotation(a, b);

/**
 * One page of a device's keys: one query on the index. Trusted entries are used as they are; the
 * others are each checked with `readRecord` (a point read of the record, bounded per instance),
 * and shown only if the record exists, is live and is still on this device. A pending entry whose
 * copy equals what it shows is confirmed on the way (a new key's first listing; see the module
 * comment for why that is safe), so the next list needs no read for it.
 */
export async function listDevicePage(
  deviceId: string,
  pageSize: number,
  continuation: string | undefined,
  readRecord: (id: string) => Promise<(KeyMetadata & { deletedDateTime?: string }) | undefined>,
): Promise<MetadataPage> {
  const page = await storageCall(async () => {
    const entries = (await deviceIndex()).listEntities<IndexEntity>({
      queryOptions: {
        filter: odata`PartitionKey eq ${deviceId}`,
        select: ['RowKey', 'volumeType', 'createdDateTime', ...ROTATION_FIELDS, 'listed'],
      },
    });
    return firstPage(entries.byPage({ maxPageSize: pageSize, continuationToken: continuation }));
  });
  const entries: TableEntityResult<IndexEntity>[] = page ?? [];
  const items = await Promise.all(
    entries.map(async (entry) => {
      const copy = copyOf(deviceId, entry);
      if (copy && entry.listed === true) return copy;
      const record = await fallbackReads.run(() => readRecord(entry.rowKey!));
      if (!record || record.deletedDateTime !== undefined || record.deviceId !== deviceId) return undefined;
      const { id, volumeType, createdDateTime } = record;
      const shown: KeyMetadata = { id, deviceId, volumeType, createdDateTime, ...rotationOf(record) };
      if (copy && entry.listed === false && entry.etag && sameCopy(copy, shown)) await confirm(shown, entry.etag);
      return shown;
    }),
  );
  return { items: items.filter((item): item is KeyMetadata => item !== undefined), continuation: page?.continuationToken };
}

/** One device's live keys, as the index shows them. */
export interface DeviceKeys {
  deviceId: string;
  keyIds: string[];
}

/**
 * Every device's live key ids in device-id order, from `after` (exclusive) on: one query over the whole
 * index, read page by page, one device's entries held at a time. Entries are trusted or checked with
 * `readRecord` as a list of the device checks them (listDevicePage), without confirming them.
 */
export async function* scanDeviceKeys(
  after: string,
  readRecord: (id: string) => Promise<(KeyMetadata & { deletedDateTime?: string }) | undefined>,
): AsyncGenerator<DeviceKeys> {
  const entries = (await deviceIndex()).listEntities<IndexEntity>({
    queryOptions: {
      filter: odata`PartitionKey gt ${after}`,
      select: ['PartitionKey', 'RowKey', 'volumeType', 'createdDateTime', 'listed'],
    },
  });
  const live = async (deviceId: string, entry: TableEntityResult<IndexEntity>): Promise<string | undefined> => {
    if (entry.listed === true && copyOf(deviceId, entry)) return entry.rowKey;
    const record = await fallbackReads.run(() => readRecord(entry.rowKey!));
    return record !== undefined && record.deletedDateTime === undefined && record.deviceId === deviceId ? entry.rowKey : undefined;
  };
  for await (const { partitionKey: deviceId, rows } of byPartition(entries)) {
    const keyIds = (await Promise.all(rows.map((entry) => live(deviceId, entry)))).filter((id): id is string => id !== undefined);
    if (keyIds.length > 0) yield { deviceId, keyIds };
  }
}
