export const VOLUME_TYPES = ['operatingSystemVolume', 'fixedDataVolume', 'removableDataVolume', 'unknownFutureValue'] as const;

export type VolumeType = (typeof VOLUME_TYPES)[number];

/** A recovery key as the service holds it. `key` is the 48-digit recovery password. */
export interface RecoveryKey {
  id: string;
  deviceId: string;
  volumeType: VolumeType;
  createdDateTime: string;
  key: string;
}

/** A stored recovery key with its storage version, which is also its ETag. */
export interface StoredRecoveryKey extends RecoveryKey {
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
