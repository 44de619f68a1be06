// Test data for the benchmark, shaped like real escrow traffic (kept apart from test/, which the build skips).

import { randomInt, randomUUID } from 'node:crypto';

/** A valid 48-digit recovery password: each group is a random 16-bit word times 11. */
export function recoveryPassword(): string {
  return Array.from({ length: 8 }, () => String(randomInt(0, 65536) * 11).padStart(6, '0')).join('-');
}

export const newId = (): string => randomUUID();

export interface KeyBody {
  '@odata.type': string;
  id: string;
  deviceId: string;
  key: string;
  volumeType: string;
}

/** The body a device sends to escrow a key (PATCH on the collection). */
export function keyBody(overrides: Partial<KeyBody> = {}): KeyBody {
  return {
    '@odata.type': '#microsoft.graph.bitlockerRecoveryKey',
    id: newId(),
    deviceId: newId(),
    key: recoveryPassword(),
    volumeType: 'operatingSystemVolume',
    ...overrides,
  };
}

/** The entity shape of a trusted RecoveryKeysByDevice index entry: keys plus the listed metadata (shared/recoveryKeys/deviceIndex.ts). */
export const indexEntity = (deviceId: string, id: string) => ({
  partitionKey: deviceId,
  rowKey: id,
  volumeType: 'operatingSystemVolume',
  createdDateTime: new Date().toISOString(),
  listed: true,
});
