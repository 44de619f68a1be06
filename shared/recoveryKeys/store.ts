import { odata, type TableEntity, type TableEntityResult, type TransactionAction } from '@azure/data-tables';
import { twinRowKey, writeAuditEntry } from '../audit/store';
import type { AuditEvent } from '../audit/model';
import { mapStorageError, statusOf, tableClient } from '../storage/tables';
import type { KeyRecord, StoredRecoveryKey, VolumeType } from './model';

// Table layout (see README "Storage layout"):
//   RecoveryKeys          PartitionKey = key id,    RowKey = 'recoveryKey'   the record itself
//   RecoveryKeysByDevice  PartitionKey = device id, RowKey = key id          an index entry, no data
// A key id as partition key makes get-by-id a point read and an id prefix a partition-key range.
// The device index lives in another partition, so it cannot be written in one transaction with the
// record. The record is the truth and the index a hint: an index entry is written before the record
// and every lookup through it is checked against the record. A write interrupted between the two
// leaves only an index entry that points at nothing, which readers skip; a key is never findable by
// one path and not by another.
// Each write also stores the twin of its audit event (shared/audit/store.ts) in the key's partition,
// in the same transaction as the record: the change and its audit record commit together or not at all.

const KEYS_TABLE = 'RecoveryKeys';
const DEVICE_INDEX_TABLE = 'RecoveryKeysByDevice';
const RECORD_ROW = 'recoveryKey';

type RecordEntity = {
  partitionKey: string;
  rowKey: string;
  deviceId: string;
  volumeType: string;
  createdDateTime: string;
  /** base64 of IV | AES-256-GCM ciphertext | tag; the recovery password is never stored in plain text. */
  recoveryPasswordCiphertext: string;
  encryptionKeyVersion: string;
};

export interface Page {
  items: StoredRecoveryKey[];
  /** Opaque storage continuation; absent on the last page. */
  continuation?: string;
}

function toEntity(key: KeyRecord): RecordEntity {
  return {
    partitionKey: key.id,
    rowKey: RECORD_ROW,
    deviceId: key.deviceId,
    volumeType: key.volumeType,
    createdDateTime: key.createdDateTime,
    recoveryPasswordCiphertext: key.sealed.ciphertext,
    encryptionKeyVersion: key.sealed.keyVersion,
  };
}

function fromEntity(entity: TableEntityResult<RecordEntity>): StoredRecoveryKey {
  return {
    id: entity.partitionKey!,
    deviceId: entity.deviceId,
    volumeType: entity.volumeType as VolumeType,
    createdDateTime: entity.createdDateTime,
    sealed: { ciphertext: entity.recoveryPasswordCiphertext, keyVersion: entity.encryptionKeyVersion },
    etag: entity.etag,
  };
}

async function guarded<T>(what: () => Promise<T>): Promise<T> {
  try {
    return await what();
  } catch (error) {
    throw mapStorageError(error);
  }
}

const keys = () => tableClient(KEYS_TABLE);
const deviceIndex = () => tableClient(DEVICE_INDEX_TABLE);

/** The index entry's ETag, read before a change makes the entry stale, so that removing it cannot race a writer that re-adds it. */
async function indexEtag(deviceId: string, id: string): Promise<string | undefined> {
  try {
    return (await (await deviceIndex()).getEntity(deviceId, id, { queryOptions: { select: ['RowKey'] } })).etag;
  } catch (error) {
    if (statusOf(error) === 404) return undefined;
    throw mapStorageError(error);
  }
}

async function removeIndexEntry(deviceId: string, id: string, etag: string | undefined): Promise<void> {
  if (etag === undefined) return;
  try {
    await (await deviceIndex()).deleteEntity(deviceId, id, { etag });
  } catch {
    // Best effort: a stale entry is skipped by readers, and a 412 means a writer needs it again.
  }
}

export async function getKey(id: string): Promise<StoredRecoveryKey | undefined> {
  try {
    return fromEntity(await (await keys()).getEntity<RecordEntity>(id, RECORD_ROW));
  } catch (error) {
    if (statusOf(error) === 404) return undefined;
    throw mapStorageError(error);
  }
}

async function addIndexEntry(deviceId: string, id: string): Promise<void> {
  await guarded(async () => (await deviceIndex()).upsertEntity({ partitionKey: deviceId, rowKey: id }, 'Replace'));
}

function twinEntity(audit: AuditEvent): TableEntity {
  return { partitionKey: audit.keyId!, rowKey: twinRowKey(audit), eventId: audit.id };
}

/** Writes the record and its audit twin in one transaction; the record's new ETag. */
async function commit(recordAction: TransactionAction, audit: AuditEvent): Promise<string | undefined> {
  const response = await guarded(async () => (await keys()).submitTransaction([recordAction, ['create', twinEntity(audit)]]));
  return response.subResponses[0]?.etag?.trim();
}

/** Stores a new key; 409 if the id exists. */
export async function insertKey(key: KeyRecord, audit: AuditEvent): Promise<StoredRecoveryKey> {
  await Promise.all([addIndexEntry(key.deviceId, key.id), writeAuditEntry(audit, true)]);
  const etag = await commit(['create', toEntity(key)], audit);
  return { ...key, etag: etag! };
}

/** Replaces a stored key if it is still at `etag` (412 otherwise). */
export async function replaceKey(key: KeyRecord, etag: string, previous: KeyRecord, audit: AuditEvent): Promise<StoredRecoveryKey> {
  const moved = previous.deviceId !== key.deviceId;
  const staleEtag = moved ? await indexEtag(previous.deviceId, key.id) : undefined;
  await Promise.all([moved ? addIndexEntry(key.deviceId, key.id) : undefined, writeAuditEntry(audit, true)]);
  const newEtag = await commit(['update', toEntity(key), 'Replace', { etag }], audit);
  if (moved) await removeIndexEntry(previous.deviceId, key.id, staleEtag);
  return { ...key, etag: newEtag! };
}

/**
 * Deletes a stored key if it is still at `etag`; its device index entry goes after it.
 * The SDK's transactions cannot carry If-Match on a delete, so here the audit twin is written first
 * and withdrawn if the delete is refused: a crash in between over-reports a delete, never hides one.
 */
export async function deleteKey(stored: KeyRecord, etag: string, audit: AuditEvent): Promise<void> {
  const [staleEtag] = await Promise.all([indexEtag(stored.deviceId, stored.id), writeAuditEntry(audit, true)]);
  const twin = twinEntity(audit);
  await guarded(async () => (await keys()).createEntity(twin));
  try {
    await guarded(async () => (await keys()).deleteEntity(stored.id, RECORD_ROW, { etag }));
  } catch (error) {
    await (await keys()).deleteEntity(twin.partitionKey, twin.rowKey).catch(() => undefined);
    throw error;
  }
  await removeIndexEntry(stored.deviceId, stored.id, staleEtag);
}

/** Moves a record to another encryption key version, if it is still at `etag`; nothing else changes. */
export async function resealKey(stored: StoredRecoveryKey, sealed: KeyRecord['sealed']): Promise<void> {
  await guarded(async () => (await keys()).updateEntity(toEntity({ ...stored, sealed }), 'Replace', { etag: stored.etag }));
}

/** One page of the keys of a device, through the device index, each checked against its record. */
export async function listByDevice(deviceId: string, pageSize: number, continuation?: string): Promise<Page> {
  return guarded(async () => {
    const entries = (await deviceIndex()).listEntities({
      queryOptions: { filter: odata`PartitionKey eq ${deviceId}`, select: ['RowKey'] },
    });
    const page = (await entries.byPage({ maxPageSize: pageSize, continuationToken: continuation }).next()).value;
    const ids: string[] = page ? page.map((entry: { rowKey?: string }) => entry.rowKey!) : [];
    const records = await Promise.all(ids.map((id) => getKey(id)));
    return {
      items: records.filter((r): r is StoredRecoveryKey => r !== undefined && r.deviceId === deviceId),
      continuation: page?.continuationToken,
    };
  });
}

/** One page of keys, all of them or those whose id starts with `idPrefix`: a partition-key range, not a scan. */
export async function listKeys(pageSize: number, continuation?: string, idPrefix?: string): Promise<Page> {
  // Ids hold only 0-9, a-f and '-', all below '~', so [prefix, prefix + '~') is exactly "starts with prefix".
  const filter =
    idPrefix === undefined
      ? odata`RowKey eq ${RECORD_ROW}`
      : odata`PartitionKey ge ${idPrefix} and PartitionKey lt ${idPrefix + '~'} and RowKey eq ${RECORD_ROW}`;
  return guarded(async () => {
    const entities = (await keys()).listEntities<RecordEntity>({ queryOptions: { filter } });
    const page = (await entities.byPage({ maxPageSize: pageSize, continuationToken: continuation }).next()).value;
    return { items: page ? page.map(fromEntity) : [], continuation: page?.continuationToken };
  });
}
