import { odata, type TableEntityResult, type TransactionAction } from '@azure/data-tables';
import { InFlightLimit } from '../storage/inFlightLimit';
import { firstPage } from '../storage/firstPage';
import { storageCall } from '../storage/storageCall';
import { byPartition } from '../storage/byPartition';
import { tableClient } from '../storage/tables';
import { type KeyMetadata, type KeyRotation, rotationOf, VOLUME_TYPES, type VolumeType } from './model';
import { TABLES } from '../storage/layout';
import { type Resume, resumeOf, tokenOf } from './pageTokens';

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

export const fallbackReads = new InFlightLimit(FALLBACK_READS_IN_FLIGHT);

/**
 * Confirming or removing an entry after the record committed is best effort, so it gets a short
 * deadline of its own rather than the whole storage call budget: when storage dies just after a
 * commit, the client's 200 waits at most this much longer, and the entry stays pending (safe).
 */
export const AFTER_COMMIT_DEADLINE_MS = 1_000;

interface IndexEntity extends KeyRotation {
  volumeType?: string;
  createdDateTime?: string;
  listed?: boolean;
}

/** What an entry copies of its record's rotation (model.ts KeyRotation): the annotations a device's list shows. */
export const ROTATION_FIELDS = ['disclosedDateTime', 'disclosedBy', 'supersededBy', 'supersededDateTime'] as const;

export interface MetadataPage<T = KeyMetadata> {
  items: T[];
  /** Opaque storage continuation; absent on the last page. */
  continuation?: string;
  /** Cut short at CHECKS_PER_PAGE untrusted entries: the caller answers with it rather than top it up. */
  cut?: boolean;
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

/**
 * How many index entries device `deviceId` has, counted up to `upTo` (the query stops there): every live
 * key of the device has one, so a count under a limit proves the device is under it. Pending entries are
 * counted too (a key whose record moved away or went), so a count at the limit is only a maybe.
 */
export async function countEntries(deviceId: string, upTo: number): Promise<number> {
  return storageCall(async () => {
    let count = 0;
    const entries = (await deviceIndex()).listEntities({
      queryOptions: { filter: odata`PartitionKey eq ${deviceId}`, select: ['RowKey'] },
    });
    for await (const page of entries.byPage({ maxPageSize: Math.min(upTo, 1000) })) {
      count += page.length;
      if (count >= upTo) break;
    }
    return count;
  });
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
 * Untrusted entries one page checks against their records at most: a page stops before the entry that
 * would be one more, so a page costs at most this many point reads, one index query and one
 * confirming transaction, whatever happened to the device before (a thousand new keys are a
 * thousand-key backlog worked off a few pages at a time, each answered within the request's deadline).
 */
export const CHECKS_PER_PAGE = 8;

/**
 * A continuation of ours, in the storage SDK's shape (shared/odata/skipToken.ts checks that shape): the
 * page after a cut one starts after the last entry it covered. Other continuations are storage's own.
 */
const AFTER_ENTRY = '~after';

const afterToken = (rowKey: string): string =>
  Buffer.from(JSON.stringify({ nextPartitionKey: AFTER_ENTRY, nextRowKey: rowKey })).toString('base64');

function resumeFrom(continuation: string | undefined): { after?: string; continuation?: string } {
  if (continuation === undefined) return {};
  try {
    const { nextPartitionKey, nextRowKey } = JSON.parse(Buffer.from(continuation, 'base64').toString('latin1')) as Record<string, unknown>;
    if (nextPartitionKey === AFTER_ENTRY && typeof nextRowKey === 'string') return { after: nextRowKey };
  } catch {
    // Not ours: storage's, passed on as it came.
  }
  return { continuation };
}

/**
 * How many of `entries` one page covers: all of them, or those before the entry that would be the
 * (CHECKS_PER_PAGE + 1)th untrusted one, so that a page checks at most CHECKS_PER_PAGE against records.
 */
export function coveredByChecks<T>(entries: readonly T[], trusted: (entry: T) => boolean): number {
  for (let i = 0, checks = 0; i < entries.length; i++) {
    if (!trusted(entries[i]) && ++checks > CHECKS_PER_PAGE) return i;
  }
  return entries.length;
}

/** Reads a key's record (of device `deviceId`: its record there, or its claim) to check an entry of that device. */
export type ReadRecord = (id: string, deviceId: string) => Promise<(KeyMetadata & { deletedDateTime?: string }) | undefined>;

/**
 * Confirms entries whose copy equals the record a list just read, one transaction per device (a device's
 * list: one), best effort as confirm.
 */
async function confirmAll(confirmations: { key: KeyMetadata; etag: string }[]): Promise<void> {
  const byDevice = new Map<string, TransactionAction[]>();
  for (const { key, etag } of confirmations) {
    byDevice.set(key.deviceId, [...(byDevice.get(key.deviceId) ?? []), ['update', entity(key, true), 'Replace', { etag }]]);
  }
  await Promise.all(
    [...byDevice.values()].map(async (actions) => {
      try {
        const abortSignal = AbortSignal.timeout(AFTER_COMMIT_DEADLINE_MS);
        await (await deviceIndex()).submitTransaction(actions, { abortSignal });
      } catch {
        // A 412 on any entry (a writer owns it now) leaves them all pending, which is safe: the next list checks them.
      }
    }),
  );
}

/** The entries an index query selects: the keys, the copy, whether it is trusted. */
const ENTRY_FIELDS = ['PartitionKey', 'RowKey', 'volumeType', 'createdDateTime', ...ROTATION_FIELDS, 'listed'];

async function queryEntries(filter: string, pageSize: number, continuation?: string) {
  return storageCall(async () => {
    const entries = (await deviceIndex()).listEntities<IndexEntity>({ queryOptions: { filter, select: ENTRY_FIELDS } });
    return firstPage(entries.byPage({ maxPageSize: pageSize, continuationToken: continuation }));
  });
}

/**
 * The keys `entries` show, in order, up to the entry before the one that would be the (CHECKS_PER_PAGE + 1)th
 * untrusted one (`covered` of them): trusted entries as they are, the others each checked with `readRecord`
 * (bounded per instance: FALLBACK_READS_IN_FLIGHT) and shown only if the record exists, is live and is on the
 * entry's device. Pending entries whose copy equals what they show are confirmed on the way (a new key's
 * first listing; see the module comment for why that is safe), so the next list needs no read for them.
 */
async function showEntries(
  entries: TableEntityResult<IndexEntity>[],
  readRecord: ReadRecord,
): Promise<{ items: KeyMetadata[]; covered: number }> {
  const covered = coveredByChecks(entries, (entry) => entry.listed === true && copyOf(entry.partitionKey!, entry) !== undefined);
  const confirmations: { key: KeyMetadata; etag: string }[] = [];
  const items = await Promise.all(
    entries.slice(0, covered).map(async (entry) => {
      const deviceId = entry.partitionKey!;
      const copy = copyOf(deviceId, entry);
      if (copy && entry.listed === true) return copy;
      const record = await fallbackReads.run(() => readRecord(entry.rowKey!, deviceId));
      if (!record || record.deletedDateTime !== undefined || record.deviceId !== deviceId) return undefined;
      const { id, volumeType, createdDateTime } = record;
      const shown: KeyMetadata = { id, deviceId, volumeType, createdDateTime, ...rotationOf(record) };
      if (copy && entry.listed === false && entry.etag && sameCopy(copy, shown)) confirmations.push({ key: shown, etag: entry.etag });
      return shown;
    }),
  );
  await confirmAll(confirmations);
  return { items: items.filter((item): item is KeyMetadata => item !== undefined), covered };
}

/**
 * One page of a device's keys: one query on the index, its untrusted entries checked with `readRecord`
 * (a point read of the record, at most CHECKS_PER_PAGE a page: showEntries).
 */
export async function listDevicePage(
  deviceId: string,
  pageSize: number,
  continuation: string | undefined,
  readRecord: ReadRecord,
): Promise<MetadataPage> {
  const resume = resumeFrom(continuation);
  const filter =
    resume.after === undefined ? odata`PartitionKey eq ${deviceId}` : odata`PartitionKey eq ${deviceId} and RowKey gt ${resume.after}`;
  const page = await queryEntries(filter, pageSize, resume.continuation);
  const entries: TableEntityResult<IndexEntity>[] = page ?? [];
  const { items, covered } = await showEntries(entries, readRecord);
  const cut = covered < entries.length;
  const next = cut ? afterToken(entries[covered - 1].rowKey!) : page?.continuationToken;
  return { items, continuation: next, ...(cut && { cut }) };
}

/** Above every device id (GUIDs, and whatever else a device id holds is below '~'): the end of the walk. */
const PAST_LAST_DEVICE = '~';

/**
 * One page of every device's keys, in device id then key id order: the index read as key ranges, one
 * query a page, every row it reads a key's entry (no record, audit twin or deleted key is read, whatever
 * the tables hold). Entries are shown and checked as a device's list does (showEntries). The first page
 * walks the partitions from the first; a page that ends inside a device's partition goes on with the rest
 * of that partition (one partition query), then with the partitions after it (pageTokens.ts).
 */
export async function listAllPage(pageSize: number, continuation: string | undefined, readRecord: ReadRecord): Promise<MetadataPage> {
  const resume = resumeOf(continuation);
  const inDevice = resume.kind === 'after';
  const after = resume.kind === 'start' ? '' : resume.partitionKey;
  const filter = inDevice
    ? odata`PartitionKey eq ${after} and RowKey gt ${resume.rowKey ?? ''}`
    : odata`PartitionKey gt ${after} and PartitionKey lt ${PAST_LAST_DEVICE}`;
  const page = await queryEntries(filter, pageSize, resume.kind === 'start' ? undefined : resume.storage);
  const entries: TableEntityResult<IndexEntity>[] = page ?? [];
  const { items, covered } = await showEntries(entries, readRecord);
  const cut = covered < entries.length;
  const last = covered > 0 ? entries[covered - 1] : undefined;
  const more = page?.continuationToken;
  let next: Resume | undefined;
  if (last && (cut || (inDevice && more !== undefined))) {
    next = { kind: 'after', partitionKey: last.partitionKey!, rowKey: last.rowKey! };
  } else if (inDevice && more !== undefined) {
    // Storage may answer a page with no entry and a continuation (its time limit): the next page takes
    // that continuation, or it would ask the same again.
    next = { ...resume, storage: more };
  } else if (inDevice) {
    next = { kind: 'walk', partitionKey: after };
  } else if (more !== undefined) {
    next = { kind: 'walk', partitionKey: after, storage: more };
  }
  return { items, continuation: next && tokenOf(next), ...(cut && { cut }) };
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
