import { odata, type TableEntityResult } from '@azure/data-tables';
import { firstPage } from '../storage/firstPage';
import { storageCall } from '../storage/storageCall';
import { tableClient } from '../storage/tables';
import { TABLES } from '../storage/layout';
import type { KeyMetadata } from './model';

// The keys awaiting rotation: one entry per key disclosed and not yet superseded, in one partition whose
// RowKey starts with the disclosure time, so that "longest waiting first" is the table's own order and a
// page of it is one query, never a scan of the keys.
//   KeysAwaitingRotation  PartitionKey = AWAITING, RowKey = <disclosedDateTime>|<key id>|<device id>
// The record stays the truth. An entry is written before the record is marked disclosed and removed after
// its successor is linked, so a crash in between leaves an entry too many, never one too few; the list
// (rotation.ts listAwaitingRotation) checks each entry against its record and removes those that no
// longer hold.

const AWAITING = 'awaiting';

export interface AwaitingEntry {
  keyId: string;
  deviceId: string;
  disclosedDateTime: string;
}

const rowKeyOf = (entry: AwaitingEntry): string => `${entry.disclosedDateTime}|${entry.keyId}|${entry.deviceId}`;

const table = () => tableClient(TABLES.keysAwaitingRotation);

/** Adds the entry of a key just disclosed (before its record says so); writing it twice is harmless. */
export async function addAwaiting(key: KeyMetadata & { disclosedDateTime: string }): Promise<void> {
  const entry: AwaitingEntry = { keyId: key.id, deviceId: key.deviceId, disclosedDateTime: key.disclosedDateTime };
  await storageCall(async () => (await table()).upsertEntity({ partitionKey: AWAITING, rowKey: rowKeyOf(entry), ...entry }, 'Replace'));
}

/** Removes a key's entry (it is superseded, or no longer there). Best effort: a stale entry is dropped by the next list. */
export async function removeAwaiting(entry: AwaitingEntry): Promise<void> {
  try {
    await (await table()).deleteEntity(AWAITING, rowKeyOf(entry));
  } catch {
    // Gone already, or storage failed: the list checks every entry against its record.
  }
}

export interface AwaitingPage {
  entries: AwaitingEntry[];
  /** Where the next page starts (the last RowKey read); absent on the last page. */
  continuation?: string;
}

/** One page of entries, oldest disclosure first, after `continuation` (a RowKey). */
export async function listAwaiting(pageSize: number, continuation?: string): Promise<AwaitingPage> {
  const filter =
    continuation === undefined ? odata`PartitionKey eq ${AWAITING}` : odata`PartitionKey eq ${AWAITING} and RowKey gt ${continuation}`;
  const page = await storageCall(async () => {
    const rows = (await table()).listEntities<AwaitingEntry>({ queryOptions: { filter } });
    return firstPage(rows.byPage({ maxPageSize: pageSize }));
  });
  const rows: TableEntityResult<AwaitingEntry>[] = page ?? [];
  const entries = rows.map(({ keyId, deviceId, disclosedDateTime }) => ({ keyId, deviceId, disclosedDateTime }));
  const last = rows.at(-1)?.rowKey;
  return { entries, ...(page?.continuationToken !== undefined && last !== undefined && { continuation: last }) };
}
