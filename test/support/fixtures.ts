import { randomInt, randomUUID } from 'node:crypto';

/** A valid 48-digit recovery password: each group is a random 16-bit word times 11. */
export function recoveryPassword(): string {
  return Array.from({ length: 8 }, () => String(randomInt(0, 65536) * 11).padStart(6, '0')).join('-');
}

export const newId = (): string => randomUUID();

export interface KeyBody {
  id?: string;
  deviceId?: string;
  key?: string;
  volumeType?: string | number;
  createdDateTime?: string;
  [extra: string]: unknown;
}

export function keyBody(overrides: KeyBody = {}): KeyBody {
  return {
    '@odata.type': '#microsoft.graph.bitlockerRecoveryKey',
    id: newId(),
    deviceId: newId(),
    key: recoveryPassword(),
    volumeType: 'operatingSystemVolume',
    ...overrides,
  };
}
