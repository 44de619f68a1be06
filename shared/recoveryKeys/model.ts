import type { Sealed } from '../crypto/envelope';

export const VOLUME_TYPES = ['operatingSystemVolume', 'fixedDataVolume', 'removableDataVolume', 'unknownFutureValue'] as const;

export type VolumeType = (typeof VOLUME_TYPES)[number];

/**
 * A key's place in its rotation (shared/recoveryKeys/rotation.ts): shown beside its metadata as instance
 * annotations (@escrow.*), and copied into the device index so that a device's list shows them too.
 */
export interface KeyRotation {
  /** When its password was first revealed (ISO 8601 UTC), with ROTATE_AFTER_REVEAL on. */
  disclosedDateTime?: string;
  /** Who revealed it: the reader's UPN, or its object or app id. */
  disclosedBy?: string;
  /** The key escrowed to replace it (`@escrow.replaces`): once set, the key is retired. */
  supersededBy?: string;
  /** When the successor was linked (ISO 8601 UTC). */
  supersededDateTime?: string;
}

/** What may be shown of a key to anyone allowed to read metadata. */
export interface KeyMetadata extends KeyRotation {
  id: string;
  deviceId: string;
  volumeType: VolumeType;
  createdDateTime: string;
}

/** The rotation fields of `key`, alone (to carry them through a write that rebuilds a record). */
export function rotationOf(key: KeyRotation): KeyRotation {
  const { disclosedDateTime, disclosedBy, supersededBy, supersededDateTime } = key;
  return {
    ...(disclosedDateTime !== undefined && { disclosedDateTime }),
    ...(disclosedBy !== undefined && { disclosedBy }),
    ...(supersededBy !== undefined && { supersededBy }),
    ...(supersededDateTime !== undefined && { supersededDateTime }),
  };
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
  /** On a successor: the key it was escrowed to replace (`@escrow.replaces`). */
  replaces?: string;
  /**
   * On a key being replaced: the successor that holds the right to replace it, set (ETag-guarded) before that
   * successor is stored, so that of two racing successors only one is stored; cleared when the link completes.
   */
  successorPending?: { id: string; since: string };
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
