import { odata } from '@azure/data-tables';
import { storageCall } from '../storage/storageCall';
import { byPartition } from '../storage/byPartition';
import { tableClient } from '../storage/tables';
import { TABLES } from '../storage/layout';

// Disclosure marks: a key whose recovery password was shown to someone is a key to replace. The
// single-use-key work (a key read marks its key disclosed, the device rotates it) is not built yet; it
// will write these marks with markDisclosed. Until then nothing writes them, and the report's
// rotationOverdue state counts nothing but marks written by hand or by tests.
//
// Layout: KeyDisclosures  PartitionKey = device id, RowKey = key id, DISCLOSURE_FIELD = ISO 8601 UTC.
// By device, so that the report reads them in the same device-id order as everything else.

/** The field the disclosure work sets: when the key's password was first shown. */
export const DISCLOSURE_FIELD = 'disclosedDateTime';

export interface DeviceDisclosures {
  deviceId: string;
  /** Key id → when it was disclosed (ISO 8601). */
  disclosed: Map<string, string>;
}

const table = () => tableClient(TABLES.keyDisclosures);

/** Marks a key disclosed at `at`, unless it was marked before (the first disclosure is the one the rotation is due from). */
export async function markDisclosed(deviceId: string, keyId: string, at: Date): Promise<void> {
  await storageCall(async () => {
    try {
      await (await table()).createEntity({ partitionKey: deviceId, rowKey: keyId, [DISCLOSURE_FIELD]: at.toISOString() });
    } catch (error) {
      if ((error as { statusCode?: number }).statusCode !== 409) throw error;
    }
  });
}

/** Every device's disclosure marks in device-id order, from `after` (exclusive) on. */
export async function* scanDisclosures(after: string): AsyncGenerator<DeviceDisclosures> {
  const rows = (await table()).listEntities<Record<string, unknown>>({ queryOptions: { filter: odata`PartitionKey gt ${after}` } });
  for await (const { partitionKey: deviceId, rows: marks } of byPartition(rows)) {
    const disclosed = new Map<string, string>();
    for (const mark of marks) if (typeof mark[DISCLOSURE_FIELD] === 'string') disclosed.set(mark.rowKey!, mark[DISCLOSURE_FIELD]);
    if (disclosed.size > 0) yield { deviceId, disclosed };
  }
}
