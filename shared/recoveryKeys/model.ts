import type { Sealed } from '../crypto/envelope';

export const VOLUME_TYPES = ['operatingSystemVolume', 'fixedDataVolume', 'removableDataVolume', 'unknownFutureValue'] as const;

export type VolumeType = (typeof VOLUME_TYPES)[number];

/** What may be shown of a key to anyone allowed to read metadata. */
export interface KeyMetadata {
  id: string;
  deviceId: string;
  volumeType: VolumeType;
  createdDateTime: string;
}

/** A recovery key with its 48-digit recovery password in plain text: only ever in memory, for a request that needs it. */
export interface RecoveryKey extends KeyMetadata {
  key: string;
}

/** A key as the store holds it: the recovery password sealed (shared/crypto), never in plain text. */
export interface KeyRecord extends KeyMetadata {
  sealed: Sealed;
  /**
   * Set while the key is deleted (ISO 8601 UTC): kept, sealed, restorable until the retention
   * (DELETED_KEY_RETENTION_DAYS) ends, and absent from every read but directory/deletedItems.
   */
  deletedDateTime?: string;
  /**
   * Set on a device's own claim on a key id whose record is another device's (a squat, or a cloned disk
   * image): stored beside that record, never replacing it (shared/storage/layout.ts CLAIM_ROW_PREFIX).
   * A claim is never deleted; it is live for as long as it exists.
   */
  claim?: true;
}

/** A stored record with its storage version, which is also its ETag. */
export interface StoredRecoveryKey extends KeyRecord {
  etag: string;
}

/** What a client may send; every property optional, each already checked and normalised by the schema. */
export interface RecoveryKeyInput {
  id?: string;
  deviceId?: string;
  volumeType?: VolumeType;
  createdDateTime?: string;
  key?: string;
}
