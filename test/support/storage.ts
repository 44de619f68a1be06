import { TableClient } from '@azure/data-tables';
import { RECORD_ROW, TABLES } from '../../shared/storage/layout';

// Raw reads of the tables, below the service, for "nothing stored" and layout assertions.

/** A table of the run's Azurite, or of the one `connectionString` names (a test's own). */
export function rawTable(name: string, connectionString = process.env.STORAGE_CONNECTION_STRING!): TableClient {
  return TableClient.fromConnectionString(connectionString, name, { allowInsecureConnection: true });
}

export async function rawEntities(table: string, filter?: string): Promise<Record<string, unknown>[]> {
  const entities: Record<string, unknown>[] = [];
  try {
    for await (const entity of rawTable(table).listEntities({ queryOptions: { filter } })) entities.push(entity);
  } catch (error) {
    if ((error as { statusCode?: number }).statusCode === 404) return [];
    throw error;
  }
  return entities;
}

/** The stored record of the key `id` (RowKey RECORD_ROW), raw as the table holds it; undefined if none. */
export const recordOf = async (id: string): Promise<Record<string, unknown> | undefined> =>
  (await rawEntities(TABLES.recoveryKeys, `PartitionKey eq '${id}' and RowKey eq '${RECORD_ROW}'`))[0];

/** Every entity of both tables that mentions the id. */
export async function entitiesMentioning(id: string): Promise<Record<string, unknown>[]> {
  const [records, index] = await Promise.all([
    rawEntities(TABLES.recoveryKeys, `PartitionKey eq '${id}'`),
    rawEntities(TABLES.deviceIndex, `RowKey eq '${id}'`),
  ]);
  return [...records, ...index];
}

/**
 * A key's own rows: its record (RowKey RECORD_ROW) and every device index entry naming it. Unlike
 * entitiesMentioning, other rows of the key's partition (such as audit twins) are not included.
 */
export async function keyRowsOf(id: string): Promise<{ records: Record<string, unknown>[]; index: Record<string, unknown>[] }> {
  const [records, index] = await Promise.all([
    rawEntities(TABLES.recoveryKeys, `PartitionKey eq '${id}' and RowKey eq '${RECORD_ROW}'`),
    rawEntities(TABLES.deviceIndex, `RowKey eq '${id}'`),
  ]);
  return { records, index };
}
