import { TableClient } from '@azure/data-tables';
import { randomUUID } from 'node:crypto';
import { TABLES } from '../../shared/storage/layout';
import { mapLimit } from './keys';

/** A device as the inventory's Entra row (its name) and, with an owner, an Intune row names it. */
export interface InventoryEntry {
  deviceId: string;
  name: string;
  owner?: string;
}

/**
 * The device inventory as a complete run of both sources left it, written straight into the tables of
 * `connectionString` (the inventory's own tests read it from the Graph stand-in).
 */
export async function seedInventory(connectionString: string, devices: readonly InventoryEntry[]): Promise<void> {
  const inventory = TableClient.fromConnectionString(connectionString, TABLES.deviceInventory, { allowInsecureConnection: true });
  await inventory.createTable();
  const runId = randomUUID();
  for (const source of ['entra', 'intune']) {
    await inventory.createEntity({
      partitionKey: '~run',
      rowKey: source,
      runId,
      scope: 'test',
      startedAt: new Date().toISOString(),
      nextPage: '',
      pages: 1,
      restarts: 0,
      lastCompleteRunId: runId,
    });
  }
  await mapLimit(devices, 8, async (d) => {
    await inventory.createEntity({ partitionKey: d.deviceId, rowKey: 'entra', seenRun: runId, displayName: d.name, accountEnabled: true });
    if (d.owner === undefined) return;
    await inventory.createEntity({
      partitionKey: d.deviceId,
      rowKey: `intune-${randomUUID()}`,
      seenRun: runId,
      deviceName: d.name,
      isEncrypted: true,
      userPrincipalName: d.owner,
    });
  });
}
