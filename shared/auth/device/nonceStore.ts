import { odata } from '@azure/data-tables';
import { isStorageError, toStorageError } from '../../storage/storageError';
import { tableClient } from '../../storage/tables';
import { TABLES } from '../../storage/layout';

// Layout: table DeviceNonces, PartitionKey = deviceId, RowKey = nonce, seenAt = ISO time.
// The insert fails on a duplicate (409), so all instances sharing the table agree on a replay.

export const NONCE_TABLE = TABLES.deviceNonces;

/**
 * How long a nonce is remembered. Twice the timestamp window (±5 minutes): a request whose nonce has
 * been forgotten is also one whose timestamp is refused.
 */
export const NONCE_LIFETIME_MS = 10 * 60_000;

interface NonceEntity {
  seenAt: string;
}

/** Remembers device nonces in Table Storage. */
export interface NonceStore {
  /** True when the nonce was new for that device (and is now taken); false when it was seen within NONCE_LIFETIME_MS. Storage faults throw a StorageError. */
  claim(deviceId: string, nonce: string, now: Date): Promise<boolean>;
}

async function replaceIfExpired(deviceId: string, nonce: string, now: Date): Promise<boolean> {
  const table = await tableClient(NONCE_TABLE);
  let seen;
  try {
    seen = await table.getEntity<NonceEntity>(deviceId, nonce);
  } catch (error) {
    // Purged between our insert and this read: it was expired, and another request is taking it now.
    if (isStorageError(error, 'gone')) return false;
    throw error;
  }
  if (now.getTime() - Date.parse(seen.seenAt) < NONCE_LIFETIME_MS) return false;
  try {
    // Only the instance that replaces this very version takes the nonce.
    await table.updateEntity({ partitionKey: deviceId, rowKey: nonce, seenAt: now.toISOString() }, 'Replace', { etag: seen.etag });
    return true;
  } catch (error) {
    if (isStorageError(error, 'versionMoved', 'gone')) return false;
    throw error;
  }
}

/** Drops the device's expired nonces; one small partition query, and a failure only leaves them for next time. */
async function forgetExpired(deviceId: string, now: Date): Promise<void> {
  const table = await tableClient(NONCE_TABLE);
  const before = new Date(now.getTime() - NONCE_LIFETIME_MS).toISOString();
  const expired = table.listEntities<NonceEntity>({
    queryOptions: { filter: odata`PartitionKey eq ${deviceId} and seenAt lt ${before}`, select: ['RowKey'] },
  });
  for await (const entity of expired) await table.deleteEntity(deviceId, entity.rowKey!);
}

export const tableNonceStore: NonceStore = {
  async claim(deviceId, nonce, now) {
    try {
      const table = await tableClient(NONCE_TABLE);
      try {
        await table.createEntity<NonceEntity>({ partitionKey: deviceId, rowKey: nonce, seenAt: now.toISOString() });
      } catch (error) {
        if (!isStorageError(error, 'exists')) throw error;
        return await replaceIfExpired(deviceId, nonce, now);
      }
    } catch (error) {
      throw toStorageError(error, 'The device nonce');
    }
    await forgetExpired(deviceId, now).catch(() => undefined);
    return true;
  },
};
