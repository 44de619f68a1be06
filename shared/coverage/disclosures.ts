import { odata } from '@azure/data-tables';
import { storageCall } from '../storage/storageCall';
import { byPartition } from '../storage/byPartition';
import { tableClient } from '../storage/tables';
import { TABLES } from '../storage/layout';

// Disclosure marks: a key whose recovery password was shown to someone is a key to replace. With
// ROTATE_AFTER_REVEAL (the default) the first reveal of a key writes its mark here, beside the key's own
// disclosedDateTime (shared/recoveryKeys/rotation.ts), and the link to its successor sets SUPERSEDED_FIELD,
// after which the report no longer counts it. The report reads these marks, not the key records, because
// it walks every device in device-id order and the records are partitioned by key id.
//
// Layout: KeyDisclosures  PartitionKey = device id, RowKey = key id, DISCLOSURE_FIELD = ISO 8601 UTC,
//                         SUPERSEDED_FIELD = the successor's key id, once there is one.
// By device, so that the report reads them in the same device-id order as everything else.

/** The field the disclosure work sets: when the key's password was first shown. */
export const DISCLOSURE_FIELD = 'disclosedDateTime';

/** The field the link to a successor sets: the successor's key id. */
export const SUPERSEDED_FIELD = 'supersededBy';

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

/** Records that the key's successor is linked; best effort (a status without the key also ends its overdue state). */
export async function markSuperseded(deviceId: string, keyId: string, successorId: string): Promise<void> {
  try {
    await (await table()).upsertEntity({ partitionKey: deviceId, rowKey: keyId, [SUPERSEDED_FIELD]: successorId }, 'Merge');
  } catch {
    // The record says it is superseded; the report counts it until a status no longer reports it.
  }
}

/** Every device's disclosure marks in device-id order, from `after` (exclusive) on. */
export async function* scanDisclosures(after: string): AsyncGenerator<DeviceDisclosures> {
  const rows = (await table()).listEntities<Record<string, unknown>>({ queryOptions: { filter: odata`PartitionKey gt ${after}` } });
  for await (const { partitionKey: deviceId, rows: marks } of byPartition(rows)) {
    const disclosed = new Map<string, string>();
    for (const mark of marks) {
      if (typeof mark[DISCLOSURE_FIELD] === 'string' && mark[SUPERSEDED_FIELD] === undefined) disclosed.set(mark.rowKey!, mark[DISCLOSURE_FIELD]);
    }
    if (disclosed.size > 0) yield { deviceId, disclosed };
  }
}
