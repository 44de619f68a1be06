// Every table of the service and the fixed row keys in them: the one place their names are written.
// The stores, the scripts (reencrypt, bench) and the tests import them from here. What each table
// holds and how its keys are made is in docs/storage.md and each store's module comment.

export const TABLES = {
  /** The key records (PartitionKey = key id, RowKey = RECORD_ROW) and their audit twins: shared/recoveryKeys/store.ts. */
  recoveryKeys: 'RecoveryKeys',
  /** The device index (PartitionKey = device id, RowKey = key id): shared/recoveryKeys/deviceIndex.ts. */
  deviceIndex: 'RecoveryKeysByDevice',
  /**
   * The deleted keys, each in a partition of its own (PartitionKey = key id, RowKey = DELETED_ROW), with what
   * directory/deletedItems shows: shared/recoveryKeys/deletedIndex.ts.
   */
  deletedKeys: 'DeletedRecoveryKeys',
  /** The audit trail by time: shared/audit/store.ts. */
  auditLog: 'AuditLog',
  /** Device-proof nonces (PartitionKey = device id, RowKey = nonce): shared/auth/device/nonceStore.ts. */
  deviceNonces: 'DeviceNonces',
  /** The Entra mirror's checkpoint and seen keys: shared/entraMirror/checkpoint.ts. */
  entraMirror: 'EntraMirror',
  /** Checkpoints of key file imports under way (PartitionKey = IMPORT_CHECKPOINT_PARTITION, RowKey = the file's digest): shared/keyImport/checkpoint.ts. */
  keyImports: 'KeyImports',
  /** Devices' BitLocker statuses (PartitionKey = device id, RowKey = STATUS_ROW) and their audit twins: shared/deviceStatus/store.ts. */
  deviceStatuses: 'DeviceStatuses',
  /** Entra ID's and Intune's devices (PartitionKey = device id) and the inventory's checkpoint: shared/inventory/store.ts. */
  deviceInventory: 'DeviceInventory',
  /** Disclosure marks of keys whose password was shown (PartitionKey = device id, RowKey = key id): shared/coverage/disclosures.ts. */
  keyDisclosures: 'KeyDisclosures',
  /**
   * Keys disclosed and not yet superseded, oldest disclosure first (one partition, RowKey = disclosure time,
   * key id, device id): shared/recoveryKeys/awaitingRotation.ts.
   */
  keysAwaitingRotation: 'KeysAwaitingRotation',
  /** The coverage reports (rows by report and state), the latest's pointer, daily summaries, the run's checkpoint: shared/coverage/store.ts. */
  coverage: 'CoverageReport',
  /** Each user's key reads of the current clock hour and reveal history (PartitionKey = user, RowKey = REVEAL_COUNT_ROW): shared/alerts/revealCounts.ts. */
  revealCounts: 'RevealCounts',
  /** Intune rotations asked for after key reads, waiting for the timer (PartitionKey = INTUNE_ROTATION_PARTITION): shared/alerts/intuneRotation.ts. */
  intuneRotations: 'IntuneRotations',
  /** Reveal requests (PartitionKey = tenant id, RowKey = random request id): shared/reveal/requestStore.ts. */
  revealRequests: 'RevealRequests',
  /** Bulk reveal grants (PartitionKey = tenant id, RowKey = random grant id): shared/reveal/grantStore.ts. */
  revealGrants: 'RevealGrants',
  /** How far the audit trail was exported to Log Analytics (one row per data collection rule and stream): shared/audit/exportCheckpoint.ts. */
  auditExport: 'AuditExport',
} as const;

/** The one partition of TABLES.keyImports: a row per key file whose import has not finished. */
export const IMPORT_CHECKPOINT_PARTITION = 'checkpoint';

/** The RowKey of a user's reveal count in its partition of TABLES.revealCounts. */
export const REVEAL_COUNT_ROW = 'reveals';

/** The one partition of TABLES.intuneRotations: a handful of rows a minute at most, read in order by one timer. */
export const INTUNE_ROTATION_PARTITION = 'pending';

/** The RowKey of a key's record in its partition of TABLES.recoveryKeys (its audit twins have others). */
export const RECORD_ROW = 'recoveryKey';

/** The RowKey of a deleted key's row in its partition of TABLES.deletedKeys. */
export const DELETED_ROW = 'deleted';

/** The RowKey of a device's status in its partition of TABLES.deviceStatuses (its audit twins have others). */
export const STATUS_ROW = 'status';

/**
 * The RowKey prefix of a device's own claim on a key id whose record (RECORD_ROW) is another device's:
 * `claim-<deviceId>`, in the key id's partition of TABLES.recoveryKeys, shaped like the record. A key id
 * is not a secret, so a device's escrow never replaces or hides another device's under the same id.
 */
export const CLAIM_ROW_PREFIX = 'claim-';

export const claimRow = (deviceId: string): string => `${CLAIM_ROW_PREFIX}${deviceId}`;

/** The first RowKey after every claim row ('.' follows '-'). */
export const CLAIM_ROW_END = 'claim.';
