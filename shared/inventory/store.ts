import { odata, type TableEntityResult } from '@azure/data-tables';
import { byPartition } from '../storage/byPartition';
import { isStorageError, toStorageError } from '../storage/storageError';
import { storageCall } from '../storage/storageCall';
import { tableClient } from '../storage/tables';
import { TABLES } from '../storage/layout';
import { type EntraDevice, type IntuneDevice, INVENTORY_SOURCES, type InventoryDevice, type InventorySource } from './model';

// Layout:
//   DeviceInventory  PartitionKey = Entra device id, RowKey 'entra'             the device as Entra ID lists it
//                    PartitionKey = Entra device id, RowKey 'intune-' + Intune id  each Intune enrolment of it
//                    PartitionKey RUN_PARTITION, RowKey = source                 the source's run checkpoint
// Every device row carries seenRun, the run of its source that last listed it. A row counts while its
// source's last complete run or its run under way saw it: a device Graph stops listing drops out once a
// run completes without it (and that run deletes it), and a run cut off half way hides nothing.
// Partitions are device ids, so the inventory in PartitionKey order is devices in device-id order,
// which the coverage report merges with statuses and keys.

/** '~' sorts after every GUID character: the checkpoints never fall inside a scan of devices. */
const RUN_PARTITION = '~run';
const ENTRA_ROW = 'entra';
const INTUNE_ROW_PREFIX = 'intune-';

export interface InventoryCheckpoint {
  source: InventorySource;
  runId: string;
  scope: string;
  startedAt: string;
  /** The next page's path and query on GRAPH_BASE_URL; undefined once the run listed the last page. */
  nextPage?: string;
  pages: number;
  /** Times this run started its listing over because a page vanished (an expired skip token). */
  restarts: number;
  /** The last run that listed every page, and when it finished. */
  lastCompleteRunId?: string;
  completedAt?: string;
}

type CheckpointEntity = Omit<InventoryCheckpoint, 'source' | 'nextPage'> & { nextPage: string };

interface DeviceEntity {
  seenRun: string;
  displayName?: string;
  accountEnabled?: boolean;
  approximateLastSignInDateTime?: string;
  trustType?: string;
  managedDeviceId?: string;
  deviceName?: string;
  isEncrypted?: boolean;
  lastSyncDateTime?: string;
  userPrincipalName?: string;
}

const inventory = () => tableClient(TABLES.deviceInventory);

export async function readInventoryCheckpoint(source: InventorySource): Promise<InventoryCheckpoint | undefined> {
  try {
    const entity = await (await inventory()).getEntity<CheckpointEntity>(RUN_PARTITION, source);
    return {
      source,
      runId: entity.runId,
      scope: entity.scope,
      startedAt: entity.startedAt,
      nextPage: entity.nextPage || undefined,
      pages: entity.pages,
      restarts: entity.restarts ?? 0,
      ...(entity.lastCompleteRunId && { lastCompleteRunId: entity.lastCompleteRunId, completedAt: entity.completedAt }),
    };
  } catch (error) {
    if (isStorageError(error, 'gone')) return undefined;
    throw toStorageError(error, 'The inventory checkpoint');
  }
}

export async function saveInventoryCheckpoint({ source, nextPage, ...rest }: InventoryCheckpoint): Promise<void> {
  const entity = { partitionKey: RUN_PARTITION, rowKey: source, ...rest, nextPage: nextPage ?? '' };
  await storageCall(async () => (await inventory()).upsertEntity(entity, 'Replace'), 'The inventory checkpoint');
}

export function entraEntity(device: EntraDevice, runId: string) {
  const { deviceId, ...fields } = device;
  return { partitionKey: deviceId, rowKey: ENTRA_ROW, seenRun: runId, ...fields };
}

export function intuneEntity(device: IntuneDevice, runId: string) {
  const { id, azureADDeviceId, ...fields } = device;
  return { partitionKey: azureADDeviceId, rowKey: `${INTUNE_ROW_PREFIX}${id}`, seenRun: runId, managedDeviceId: id, ...fields };
}

/** Stores one listed device row (a replace: what Graph lists now is the row). */
export async function upsertInventoryRow(entity: { partitionKey: string; rowKey: string }): Promise<void> {
  await storageCall(async () => (await inventory()).upsertEntity(entity, 'Replace'));
}

/** Deletes the rows of `source` that `runId` (a complete run) did not see: devices Graph no longer lists. How many. */
export async function deleteUnseen(source: InventorySource, runId: string): Promise<number> {
  const client = await inventory();
  const rows =
    source === 'entra'
      ? odata`PartitionKey lt ${RUN_PARTITION} and RowKey eq ${ENTRA_ROW} and seenRun ne ${runId}`
      : odata`PartitionKey lt ${RUN_PARTITION} and RowKey ge ${INTUNE_ROW_PREFIX} and RowKey lt ${'intune.'} and seenRun ne ${runId}`;
  let deleted = 0;
  return storageCall(async () => {
    for await (const row of client.listEntities({ queryOptions: { filter: rows, select: ['PartitionKey', 'RowKey'] } })) {
      await client.deleteEntity(row.partitionKey!, row.rowKey!);
      deleted++;
    }
    return deleted;
  });
}

/** The runs whose sightings count, per source: the last complete one and the one under way. */
export type CountingRuns = Record<InventorySource, ReadonlySet<string>>;

export async function countingRuns(): Promise<CountingRuns> {
  const entries = await Promise.all(
    INVENTORY_SOURCES.map(async (source): Promise<[InventorySource, ReadonlySet<string>]> => {
      const checkpoint = await readInventoryCheckpoint(source);
      const runs = new Set<string>();
      if (checkpoint?.lastCompleteRunId) runs.add(checkpoint.lastCompleteRunId);
      if (checkpoint?.nextPage !== undefined) runs.add(checkpoint.runId);
      return [source, runs];
    }),
  );
  return Object.fromEntries(entries) as CountingRuns;
}

function addRow(device: InventoryDevice, row: TableEntityResult<DeviceEntity>, runs: CountingRuns): void {
  const entra = row.rowKey === ENTRA_ROW;
  if (!runs[entra ? 'entra' : 'intune'].has(row.seenRun)) return;
  if (entra) {
    device.entra = {
      deviceId: device.deviceId,
      displayName: row.displayName,
      accountEnabled: row.accountEnabled,
      approximateLastSignInDateTime: row.approximateLastSignInDateTime,
      trustType: row.trustType,
    };
    return;
  }
  device.intune.push({
    id: row.managedDeviceId ?? row.rowKey!.slice(INTUNE_ROW_PREFIX.length),
    azureADDeviceId: device.deviceId,
    deviceName: row.deviceName,
    isEncrypted: row.isEncrypted,
    lastSyncDateTime: row.lastSyncDateTime,
    userPrincipalName: row.userPrincipalName,
  });
  device.intune.sort((a, b) => (b.lastSyncDateTime ?? '').localeCompare(a.lastSyncDateTime ?? ''));
}

const hasRows = (device: InventoryDevice): boolean => device.entra !== undefined || device.intune.length > 0;

/**
 * Every device of the inventory in device-id order, from `after` (exclusive) on: one query, read page by
 * page, with only the rows that count (`runs`). Holds one device's rows at a time.
 */
export async function* scanInventory(runs: CountingRuns, after = ''): AsyncGenerator<InventoryDevice> {
  const rows = (await inventory()).listEntities<DeviceEntity>({
    queryOptions: { filter: odata`PartitionKey gt ${after} and PartitionKey lt ${RUN_PARTITION}` },
  });
  for await (const { partitionKey: deviceId, rows: ofDevice } of byPartition(rows)) {
    const device: InventoryDevice = { deviceId, intune: [] };
    for (const row of ofDevice) addRow(device, row, runs);
    if (hasRows(device)) yield device;
  }
}

/** One device as the inventory has it, or undefined. */
export async function readInventoryDevice(deviceId: string, runs: CountingRuns): Promise<InventoryDevice | undefined> {
  const device: InventoryDevice = { deviceId, intune: [] };
  await storageCall(async () => {
    for await (const row of (await inventory()).listEntities<DeviceEntity>({
      queryOptions: { filter: odata`PartitionKey eq ${deviceId}` },
    }))
      addRow(device, row, runs);
  });
  return hasRows(device) ? device : undefined;
}

/**
 * Whether Entra ID lists the device, as far as the inventory knows: undefined when no inventory of Entra
 * ID has completed yet (nothing to judge by).
 */
export async function knowsDevice(deviceId: string): Promise<boolean | undefined> {
  if ((await readInventoryCheckpoint('entra'))?.lastCompleteRunId === undefined) return undefined;
  const runs = await countingRuns();
  return (await readInventoryDevice(deviceId, runs))?.entra !== undefined;
}
