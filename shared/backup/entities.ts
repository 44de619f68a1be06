import type { TableEntityResult } from '@azure/data-tables';
import { TABLES } from '../storage/layout';
import { storageCall } from '../storage/storageCall';
import { tableClient } from '../storage/tables';
import { compareKeys, type StoredEntity, type TypedValue } from './snapshot';

// The tables a snapshot holds and their entities as stored, read page by page. Generic on purpose:
// every table of shared/storage/layout.ts TABLES is copied whatever its rows look like, so a table
// added there, or a changed row shape, is in the next snapshot without a change here.

/** Entities asked for per page: storage's maximum, so that a scan costs as few requests as it can. */
const PAGE_SIZE = 1_000;

/**
 * The tables to copy, in the order they are read and restored: the key records first. A write stores
 * the device index entry and the AuditLog entry before the record (shared/recoveryKeys/store.ts), so a
 * record copied first has those already stored when their tables are read after it.
 */
export function tablesInOrder(): string[] {
  const names: string[] = Object.values(TABLES);
  return [TABLES.recoveryKeys, ...names.filter((name) => name !== TABLES.recoveryKeys)];
}

export interface ListedEntity {
  entity: StoredEntity;
  /** Storage's Timestamp of the entity's last write (ISO 8601). */
  timestamp?: string;
}

const SERVICE_PROPERTIES = new Set(['etag', 'timestamp', 'odata.etag', 'odata.metadata']);

function storedEntityOf(result: TableEntityResult<Record<string, unknown>>): ListedEntity {
  const entity: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(result)) if (!SERVICE_PROPERTIES.has(name)) entity[name] = value;
  const timestamp = result.timestamp as TypedValue | string | undefined;
  return {
    entity: entity as StoredEntity,
    timestamp: typeof timestamp === 'object' ? timestamp.value : timestamp,
  };
}

/**
 * Every entity of `table` with its values typed as stored (the SDK's disableTypeConversion), in
 * storage order (PartitionKey, then RowKey), one page in memory at a time. Throws if storage ever
 * answers out of that order: incremental snapshots and restore checks walk two listings side by side.
 */
export async function* storedEntities(table: string): AsyncGenerator<ListedEntity> {
  const client = await tableClient(table);
  const pages = client.listEntities<Record<string, unknown>>({ disableTypeConversion: true }).byPage({ maxPageSize: PAGE_SIZE });
  let previous: { p: string; r: string } | undefined;
  for (;;) {
    const next = await storageCall(() => pages.next(), `The table ${table}`);
    if (next.done) return;
    for (const result of next.value as TableEntityResult<Record<string, unknown>>[]) {
      const listed = storedEntityOf(result);
      const keys = { p: listed.entity.partitionKey, r: listed.entity.rowKey };
      if (previous && compareKeys(previous, keys) >= 0) throw new Error(`storage listed ${table} out of key order`);
      previous = keys;
      yield listed;
    }
  }
}
