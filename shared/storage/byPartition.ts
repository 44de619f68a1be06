import { toStorageError } from './storageError';

/** A partition's rows, as a scan in PartitionKey order met them. */
export interface PartitionRows<T> {
  partitionKey: string;
  rows: T[];
}

/**
 * A scan's rows gathered by partition: Table Storage returns rows in PartitionKey order, so one
 * partition's rows are held at a time. A storage failure mid-scan is thrown as a StorageError.
 */
export async function* byPartition<T extends { partitionKey?: string }>(rows: AsyncIterable<T>): AsyncGenerator<PartitionRows<T>> {
  let current: PartitionRows<T> | undefined;
  try {
    for await (const row of rows) {
      if (current !== undefined && current.partitionKey === row.partitionKey) {
        current.rows.push(row);
        continue;
      }
      if (current) yield current;
      current = { partitionKey: row.partitionKey!, rows: [row] };
    }
  } catch (error) {
    throw toStorageError(error);
  }
  if (current) yield current;
}
