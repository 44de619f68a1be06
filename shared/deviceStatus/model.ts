import type { VolumeType } from '../recoveryKeys/model';

// A device's BitLocker status as it reported it: what is on its disks, not what is escrowed.

export const PROTECTION_STATUSES = ['on', 'off', 'suspended'] as const;
export type ProtectionStatus = (typeof PROTECTION_STATUSES)[number];

export interface VolumeStatus {
  volumeType: VolumeType;
  protectionStatus: ProtectionStatus;
  /** Key ids (lower-case GUIDs) of the volume's recovery-password protectors. */
  recoveryPasswordIds: string[];
  mountPoint?: string;
  encryptionPercentage?: number;
  /** Other protector kinds on the volume, as the client names them (tpm, tpmPin, externalKey, ...). */
  keyProtectorTypes?: string[];
}

export interface DeviceStatusInput {
  volumes: VolumeStatus[];
  clientVersion?: string;
}

export interface DeviceStatus extends DeviceStatusInput {
  deviceId: string;
  /** When the service stored it (ISO 8601 UTC): the report's freshness, never the device's clock. */
  lastReportedDateTime: string;
}

/** Every recovery-password id a status reports, over all its volumes. */
export const reportedKeyIds = (status: DeviceStatusInput): string[] => status.volumes.flatMap((v) => v.recoveryPasswordIds);

/** Whether a status says a volume is encrypted (protection on, or suspended for an update: still encrypted). */
export const reportsEncryption = (status: DeviceStatusInput): boolean => status.volumes.some((v) => v.protectionStatus !== 'off');
