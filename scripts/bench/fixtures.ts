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

/** A stored entity's own properties, without what the service adds (keys, etag, timestamp, odata metadata). */
export function propertiesOf(entity: Record<string, unknown>): Record<string, unknown> {
  const properties: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(entity)) {
    if (name === 'etag' || name === 'timestamp' || name === 'partitionKey' || name === 'rowKey' || name.startsWith('odata.')) continue;
    properties[name] = value;
  }
  return properties;
}
