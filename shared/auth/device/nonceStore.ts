import { odata } from '@azure/data-tables';
import { isStorageError, toStorageError } from '../../storage/storageError';
import { tableClient } from '../../storage/tables';
import { TABLES } from '../../storage/layout';

// Layout: table DeviceNonces, PartitionKey = deviceId, RowKey = nonce, seenAt = ISO time.
// The insert fails on a duplicate (409), so all instances sharing the table agree on a replay.

export const NONCE_TABLE = TABLES.deviceNonces;

/**
 * How long a nonce is remembered: strictly longer than the whole timestamp window (±5 minutes, 10 in
 * all), by a minute, so that a request whose nonce has been forgotten is also one whose timestamp is
 * refused, at the window's very edge too (with exactly 10 minutes, a request stamped 5 minutes ahead
 * replayed at the 10-minute mark).
 */
export const NONCE_LIFETIME_MS = 11 * 60_000;

/** Expired nonce rows one sweep deletes at most: a sweep is bounded, and the next one goes on. */
export const NONCE_SWEEP_MAX_DELETES = 20_000;

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

/**
 * Deletes expired nonce rows of every device (every partition), at most `maxDeletes` of them; how many
 * it deleted. Run by a timer (functions/sweepDeviceNonces.ts), never inside a device's request: a burst
 * of thousands of requests used to leave the device's next requests deleting rows until their storage
 * deadline, and rows of devices that stopped calling were never deleted. A row deleted while a
 * request reads it is an expired nonce either way (replaceIfExpired).
 */
export async function sweepExpiredNonces(now: Date, maxDeletes = NONCE_SWEEP_MAX_DELETES): Promise<number> {
  const table = await tableClient(NONCE_TABLE);
  const before = new Date(now.getTime() - NONCE_LIFETIME_MS).toISOString();
  const expired = table.listEntities<NonceEntity>({
    queryOptions: { filter: odata`seenAt lt ${before}`, select: ['PartitionKey', 'RowKey'] },
  });
  let deleted = 0;
  for await (const entity of expired) {
    if (deleted >= maxDeletes) break;
    await table.deleteEntity(entity.partitionKey!, entity.rowKey!).catch((error: unknown) => {
      if (!isStorageError(error, 'gone')) throw toStorageError(error, 'The device nonce');
    });
    deleted++;
  }
  return deleted;
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
    return true;
  },
};
