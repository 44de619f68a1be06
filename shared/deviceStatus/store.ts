import { odata, type TableEntityResult } from '@azure/data-tables';
import { twinRowKey, writeAuditEntry } from '../audit/store';
import type { AuditEvent } from '../audit/model';
import { isStorageError, toStorageError } from '../storage/storageError';
import { storageCall } from '../storage/storageCall';
import { tableClient } from '../storage/tables';
import { STATUS_ROW, TABLES } from '../storage/layout';
import type { DeviceStatus, VolumeStatus } from './model';

// Layout:
//   DeviceStatuses  PartitionKey = device id, RowKey = STATUS_ROW    the device's latest status
//                   PartitionKey = device id, RowKey = 'audit-' ...  the audit twins of its writes
// A status replaces the one before it whole, with its audit twin in the same transaction: a status is
// stored entirely or not at all. Statuses in PartitionKey order are devices in device-id order, which
// the coverage report merges with the inventory and the device index (shared/coverage/compute.ts).

interface StatusEntity {
  volumes: string;
  clientVersion?: string;
  lastReportedDateTime: string;
}

const statuses = () => tableClient(TABLES.deviceStatuses);

/** The stored volumes, or none: a row altered into something else reads as a status of no volumes rather than failing. */
function volumesOf(json: string): VolumeStatus[] {
  try {
    const parsed: unknown = JSON.parse(json);
    return Array.isArray(parsed) ? (parsed as VolumeStatus[]) : [];
  } catch {
    return [];
  }
}

function fromEntity(entity: TableEntityResult<StatusEntity>): DeviceStatus {
  return {
    deviceId: entity.partitionKey!,
    volumes: volumesOf(entity.volumes),
    lastReportedDateTime: entity.lastReportedDateTime,
    ...(entity.clientVersion !== undefined && { clientVersion: entity.clientVersion }),
  };
}

/** Stores `status` in place of the device's last, with the audit event's index entry first and its twin in the status's transaction. */
export async function writeStatus(status: DeviceStatus, audit: AuditEvent): Promise<void> {
  await writeAuditEntry(audit, true);
  const entity = {
    partitionKey: status.deviceId,
    rowKey: STATUS_ROW,
    volumes: JSON.stringify(status.volumes),
    clientVersion: status.clientVersion,
    lastReportedDateTime: status.lastReportedDateTime,
  };
  const twin = { partitionKey: status.deviceId, rowKey: twinRowKey(audit), eventId: audit.id };
  await storageCall(async () =>
    (await statuses()).submitTransaction([
      ['upsert', entity, 'Replace'],
      ['create', twin],
    ]),
  );
}

export async function readStatus(deviceId: string): Promise<DeviceStatus | undefined> {
  try {
    return fromEntity(await (await statuses()).getEntity<StatusEntity>(deviceId, STATUS_ROW));
  } catch (error) {
    if (isStorageError(error, 'gone')) return undefined;
    throw toStorageError(error);
  }
}

/** Every device's status, in device-id order, from `after` (exclusive) on: one query, read page by page. */
export async function* scanStatuses(after = ''): AsyncGenerator<DeviceStatus> {
  const rows = (await statuses()).listEntities<StatusEntity>({
    queryOptions: { filter: odata`PartitionKey gt ${after} and RowKey eq ${STATUS_ROW}` },
  });
  try {
    for await (const row of rows) yield fromEntity(row);
  } catch (error) {
    throw toStorageError(error);
  }
}
