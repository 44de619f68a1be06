import { odata, type TableEntity, type TableEntityResult, type TransactionAction } from '@azure/data-tables';
import { twinRowKey, writeAuditEntry } from '../audit/store';
import type { AuditEvent } from '../audit/model';
import { firstPage } from '../storage/firstPage';
import { storageCall } from '../storage/storageCall';
import { isStorageError, toStorageError } from '../storage/storageError';
import { type FromEither, readWithFallback } from '../storage/secondary';
import { tableClient } from '../storage/tables';
import * as deviceIndex from './deviceIndex';
import * as deletedIndex from './deletedIndex';
import { type KeyMetadata, type KeyRecord, rotationOf, type StoredRecoveryKey, type VolumeType } from './model';
import { CLAIM_ROW_END, CLAIM_ROW_PREFIX, claimRow, RECORD_ROW, TABLES } from '../storage/layout';

// Table layout (see README "Storage layout"):
//   RecoveryKeys          PartitionKey = key id,    RowKey = 'recoveryKey'   the record itself
//   RecoveryKeysByDevice  PartitionKey = device id, RowKey = key id          the device index (deviceIndex.ts)
// A key id as partition key makes get-by-id a point read and an id prefix a partition-key range.
// The device index lives in another partition, so it cannot be written in one transaction with the
// record. The record is the truth: an index entry is turned pending before the record changes and
// trusted again only after (by the writer, or for a new key by the first list that reads the record),
// so a write interrupted between the two leaves an entry that lists check against the record
// (deviceIndex.ts); a key is never findable by one path and not by another.
// A deleted key keeps its record, with deletedDateTime set, until it is purged: delete and restore are
// ETag-guarded updates of the record like any other write. The deleted keys have an index of their own
// (deletedIndex.ts: DeletedRecoveryKeys), kept with the device index's discipline.
// Each write also stores the twin of its audit event (shared/audit/store.ts) in the key's partition,
// in the same transaction as the record: the change and its audit record commit together or not at all.
// A device that escrows a key id whose record is another device's stores its own claim beside it
// (RowKey `claim-<deviceId>`, the record's shape): the first device to use an id cannot hide or block
// another's key under it. Claims are listed with the records; a key read of an id with several live
// holders must name the device (service.ts). Data written before claims existed has none: nothing to migrate.

const KEYS_TABLE = TABLES.recoveryKeys;

type RecordEntity = {
  partitionKey: string;
  rowKey: string;
  deviceId: string;
  volumeType: string;
  createdDateTime: string;
  /** base64 of IV | AES-256-GCM ciphertext | tag; the recovery password is never stored in plain text. */
  recoveryPasswordCiphertext: string;
  encryptionKeyVersion: string;
  deletedDateTime?: string;
  // A key's rotation (model.ts KeyRotation, rotation.ts): absent until it happens.
  disclosedDateTime?: string;
  disclosedBy?: string;
  supersededBy?: string;
  supersededDateTime?: string;
  replaces?: string;
  successorPendingId?: string;
  successorPendingSince?: string;
};

export interface Page<T = StoredRecoveryKey> {
  items: T[];
  /** Opaque storage continuation; absent on the last page. */
  continuation?: string;
  /** The page was cut short to bound its storage requests: answer with it rather than top it up. */
  cut?: boolean;
}

const rowOf = (key: KeyRecord): string => (key.claim ? claimRow(key.deviceId) : RECORD_ROW);

function toEntity(key: KeyRecord): RecordEntity {
  return {
    partitionKey: key.id,
    rowKey: rowOf(key),
    deviceId: key.deviceId,
    volumeType: key.volumeType,
    createdDateTime: key.createdDateTime,
    recoveryPasswordCiphertext: key.sealed.ciphertext,
    encryptionKeyVersion: key.sealed.keyVersion,
    // Absent on a live key: a Replace then drops it, which is what a restore does.
    ...(key.deletedDateTime !== undefined && { deletedDateTime: key.deletedDateTime }),
    ...rotationOf(key),
    ...(key.replaces !== undefined && { replaces: key.replaces }),
    ...(key.successorPending && { successorPendingId: key.successorPending.id, successorPendingSince: key.successorPending.since }),
  };
}

const text = (value: unknown): string | undefined => (typeof value === 'string' ? value : undefined);

function fromEntity(entity: TableEntityResult<RecordEntity>): StoredRecoveryKey {
  return {
    id: entity.partitionKey,
    deviceId: entity.deviceId,
    volumeType: entity.volumeType as VolumeType,
    createdDateTime: entity.createdDateTime,
    sealed: { ciphertext: entity.recoveryPasswordCiphertext, keyVersion: entity.encryptionKeyVersion },
    etag: entity.etag,
    ...(typeof entity.deletedDateTime === 'string' && { deletedDateTime: entity.deletedDateTime }),
    ...(entity.rowKey !== RECORD_ROW && { claim: true }),
    ...rotationOf({
      disclosedDateTime: text(entity.disclosedDateTime),
      disclosedBy: text(entity.disclosedBy),
      supersededBy: text(entity.supersededBy),
      supersededDateTime: text(entity.supersededDateTime),
    }),
    ...(typeof entity.replaces === 'string' && { replaces: entity.replaces }),
    ...(typeof entity.successorPendingId === 'string' && {
      successorPending: { id: entity.successorPendingId, since: text(entity.successorPendingSince) ?? '' },
    }),
  };
}

const keys = () => tableClient(KEYS_TABLE);

async function getRow(id: string, rowKey: string): Promise<StoredRecoveryKey | undefined> {
  try {
    return fromEntity(await (await keys()).getEntity<RecordEntity>(id, rowKey));
  } catch (error) {
    if (isStorageError(error, 'gone')) return undefined;
    throw toStorageError(error);
  }
}

/** The record of key `id` (the first device's, or a token writer's), without the claims of other devices. */
export const getKey = (id: string): Promise<StoredRecoveryKey | undefined> => getRow(id, RECORD_ROW);

/** Device `deviceId`'s own claim on key id `id` (its record being another device's). */
export const getClaim = (id: string, deviceId: string): Promise<StoredRecoveryKey | undefined> => getRow(id, claimRow(deviceId));

/** The same row as `key` (its record or its claim), as stored now. */
export const getSameRow = (key: KeyRecord): Promise<StoredRecoveryKey | undefined> => getRow(key.id, rowOf(key));

/** A record and every claim of key id `id`, in one single-partition query. */
export async function getHolders(id: string): Promise<StoredRecoveryKey[]> {
  const { items } = await queryRecords(`${odata`PartitionKey eq ${id}`} and ${HOLDER_ROWS}`, 1000);
  return items;
}

/**
 * What device `deviceId` holds under key id `id`: the record if it is on that device, else the device's
 * claim. Two point reads at most, the second only for an id that another device holds.
 */
export async function getHeldBy(id: string, deviceId: string): Promise<StoredRecoveryKey | undefined> {
  const record = await getKey(id);
  return record?.deviceId === deviceId ? record : getClaim(id, deviceId);
}

/**
 * The record and every claim of key id `id`, for a read that changes nothing (GET, $select=key): one
 * single-partition query, from the secondary table endpoint when the primary is down
 * (shared/storage/secondary.ts), then possibly minutes old. Writes read with getKey and getClaim.
 */
export async function readHolders(id: string): Promise<FromEither<StoredRecoveryKey[]>> {
  try {
    return await readWithFallback(KEYS_TABLE, async (client) => {
      const entities = client.listEntities<RecordEntity>({
        queryOptions: { filter: `${odata`PartitionKey eq ${id}`} and ${HOLDER_ROWS}` },
      });
      const page = await firstPage(entities.byPage({ maxPageSize: 1000 }));
      return page ? page.map(fromEntity) : [];
    });
  } catch (error) {
    throw toStorageError(error);
  }
}

function twinEntity(audit: AuditEvent): TableEntity {
  return { partitionKey: audit.keyId!, rowKey: twinRowKey(audit), eventId: audit.id };
}

/** Writes the record and its audit twin in one transaction; the record's new ETag. */
async function commit(recordAction: TransactionAction, audit: AuditEvent): Promise<string | undefined> {
  const response = await storageCall(async () => (await keys()).submitTransaction([recordAction, ['create', twinEntity(audit)]]));
  return response.subResponses[0]?.etag?.trim();
}

/**
 * Stores a new key; 409 if the id exists. Three storage requests, two in a row: the device index entry
 * (pending) and the AuditLog entry, then the record with its audit twin. The entry is left pending:
 * the first list of the device that reads the record confirms it (deviceIndex.ts), so the escrow
 * does not wait for a fourth request that only spares that list a point read.
 */
export async function insertKey(key: KeyRecord, audit: AuditEvent): Promise<StoredRecoveryKey> {
  await Promise.all([deviceIndex.markPending(key), writeAuditEntry(audit, true)]);
  const etag = await commit(['create', toEntity(key)], audit);
  return { ...key, etag: etag! };
}

const listedChange = (a: KeyMetadata, b: KeyMetadata): boolean =>
  a.deviceId !== b.deviceId || a.volumeType !== b.volumeType || !deviceIndex.sameRotation(a, b);

/**
 * Replaces a stored key if it is still at `etag` (412 otherwise). A change of what the device index
 * shows (deviceId, volumeType, the rotation) turns its entries pending first (the old device's too, on a move).
 */
export async function replaceKey(
  key: KeyRecord,
  etag: string,
  previous: KeyRecord,
  audit: AuditEvent,
  /** Other writes that must precede the record's (an index of the caller's), made alongside the device index's. */
  alongside?: () => Promise<unknown>,
): Promise<StoredRecoveryKey> {
  const moved = previous.deviceId !== key.deviceId;
  const reindexed = listedChange(previous, key);
  const [pending, leaving] = await Promise.all([
    reindexed ? deviceIndex.markPending(key) : undefined,
    moved ? deviceIndex.markLeaving(previous) : undefined,
    writeAuditEntry(audit, true),
    alongside?.(),
  ]);
  const newEtag = await commit(['update', toEntity(key), 'Replace', { etag }], audit);
  await Promise.all([
    pending !== undefined ? deviceIndex.confirm(key, pending) : undefined,
    leaving !== undefined ? deviceIndex.remove(previous.deviceId, key.id, leaving) : undefined,
  ]);
  return { ...key, etag: newEtag! };
}

/**
 * Marks a stored key deleted if it is still at `etag` (412 otherwise): its device index entry and its
 * deleted-keys row turn pending first, then the record, then the entry goes and the row is confirmed.
 */
export async function softDeleteKey(
  deleted: KeyRecord & { deletedDateTime: string },
  etag: string,
  audit: AuditEvent,
): Promise<StoredRecoveryKey> {
  const [leaving, deleting] = await Promise.all([
    deviceIndex.markLeaving(deleted),
    deletedIndex.markDeleting(deleted),
    writeAuditEntry(audit, true),
  ]);
  const newEtag = await commit(['update', toEntity(deleted), 'Replace', { etag }], audit);
  await Promise.all([deviceIndex.remove(deleted.deviceId, deleted.id, leaving), deletedIndex.confirm(deleted, deleting)]);
  return { ...deleted, etag: newEtag! };
}

/** Brings a deleted key back if it is still at `etag` (412 otherwise), into its device's list again and out of the deleted keys'. */
export async function restoreKey(restored: KeyRecord, etag: string, audit: AuditEvent): Promise<StoredRecoveryKey> {
  const [pending, leaving] = await Promise.all([
    deviceIndex.markPending(restored),
    deletedIndex.markLeaving(restored.id),
    writeAuditEntry(audit, true),
  ]);
  const newEtag = await commit(['update', toEntity(restored), 'Replace', { etag }], audit);
  await Promise.all([deviceIndex.confirm(restored, pending), deletedIndex.remove(restored.id, leaving)]);
  return { ...restored, etag: newEtag! };
}

/**
 * Deletes a (soft-deleted) record for good if it is still at `etag`; its audit twins stay, as the
 * trail of what happened to it. The SDK's transactions cannot carry If-Match on a delete, so here the
 * audit twin is written first and withdrawn if the delete is refused: a crash in between over-reports
 * a purge, never hides one. The deleted-keys row turns pending first and goes after.
 */
export async function purgeKey(stored: KeyRecord, etag: string, audit: AuditEvent): Promise<void> {
  const [, leaving] = await Promise.all([writeAuditEntry(audit, true), deletedIndex.markLeaving(stored.id)]);
  const twin = twinEntity(audit);
  await storageCall(async () => (await keys()).createEntity(twin));
  try {
    await storageCall(async () => (await keys()).deleteEntity(stored.id, RECORD_ROW, { etag }));
  } catch (error) {
    await (await keys()).deleteEntity(twin.partitionKey, twin.rowKey).catch(() => undefined);
    throw error;
  }
  await deletedIndex.remove(stored.id, leaving);
}

/** Moves a record to another encryption key version, if it is still at `etag`; nothing else changes. */
export async function resealKey(stored: StoredRecoveryKey, sealed: KeyRecord['sealed']): Promise<void> {
  await storageCall(async () => (await keys()).updateEntity(toEntity({ ...stored, sealed }), 'Replace', { etag: stored.etag }));
}

/** Index entries of a device, counted up to `upTo` (deviceIndex.ts countEntries). */
export const countDeviceEntries = (deviceId: string, upTo: number): Promise<number> => deviceIndex.countEntries(deviceId, upTo);

/** One page of the live keys of a device, from the device index (see deviceIndex.ts for when a record is read). */
export function listByDevice(deviceId: string, pageSize: number, continuation?: string): Promise<Page<KeyMetadata>> {
  return deviceIndex.listDevicePage(deviceId, pageSize, continuation, getHeldBy);
}

/** One page of every live key, from the device index read as key ranges (deviceIndex.ts listAllPage): device id, then key id order. */
export function listAll(pageSize: number, continuation?: string): Promise<Page<KeyMetadata>> {
  return deviceIndex.listAllPage(pageSize, continuation, getHeldBy);
}

/** One page of the keys deleted after `cutoff`, from the deleted-keys index (deletedIndex.ts): key id order. */
export function listDeletedPage(cutoff: string, pageSize: number, continuation?: string): Promise<Page<deletedIndex.DeletedMetadata>> {
  return deletedIndex.listPage(cutoff, pageSize, continuation, getKey);
}

/** Adds to the deleted-keys index the deleted records it lacks (deletedIndex.ts reconcile); how many. */
export const indexDeleted = (records: deletedIndex.DeletedMetadata[]): Promise<number> => deletedIndex.reconcile(records);

/**
 * One page of the deleted records, for the purge job: a scan of the records (a job's, in pages; no
 * request reads this way). A live record has no deletedDateTime, and Table storage leaves an entity out
 * of a comparison on a property it lacks, so only deleted records are returned.
 */
export async function scanDeleted(pageSize: number, continuation?: string): Promise<Page> {
  return queryRecords(odata`RowKey eq ${RECORD_ROW} and deletedDateTime gt ${''}`, pageSize, continuation);
}

/** The rows of a key partition that hold a key: its record and the claims, not the audit twins. */
const HOLDER_ROWS = odata`(RowKey eq ${RECORD_ROW} or (RowKey ge ${CLAIM_ROW_PREFIX} and RowKey lt ${CLAIM_ROW_END}))`;

async function queryRecords(filter: string, pageSize: number, continuation?: string): Promise<Page> {
  return storageCall(async () => {
    const entities = (await keys()).listEntities<RecordEntity>({ queryOptions: { filter } });
    const page = await firstPage(entities.byPage({ maxPageSize: pageSize, continuationToken: continuation }));
    return { items: page ? page.map(fromEntity) : [], continuation: page?.continuationToken };
  });
}

/**
 * One page of records and claims, all of them or those whose id starts with `idPrefix`: a partition-key
 * range, not a scan. Deleted keys are included (the service leaves them out; re-encryption needs them too).
 */
export async function listKeys(pageSize: number, continuation?: string, idPrefix?: string): Promise<Page> {
  // Ids hold only 0-9, a-f and '-', all below '~', so [prefix, prefix + '~') is exactly "starts with prefix".
  const filter =
    idPrefix === undefined ? HOLDER_ROWS : `${odata`PartitionKey ge ${idPrefix} and PartitionKey lt ${idPrefix + '~'}`} and ${HOLDER_ROWS}`;
  return queryRecords(filter, pageSize, continuation);
}
