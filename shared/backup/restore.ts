import type { TransactionAction } from '@azure/data-tables';
import type { ContainerClient } from '@azure/storage-blob';
import { isStorageError } from '../storage/storageError';
import { storageCall } from '../storage/storageCall';
import { tableClient } from '../storage/tables';
import { readManifest } from './backup';
import { backupContainer } from './blobs';
import { advanceTo, Cursor } from './cursor';
import { storedEntities } from './entities';
import { partLines, readPart } from './parts';
import { type DeletedLine, entityHash, type IndexLine, type Manifest, manifestBlob, type RowLine, SnapshotRefused } from './snapshot';

// Restores a snapshot (with the chain of snapshots it builds on) into the tables the service is
// configured with. Nothing is written before every manifest and every part to be read has been
// checked (snapshot.ts, parts.ts); the target must be empty unless `force`; after writing, every table
// is compared with the snapshot's index, key by key and hash by hash.

/** A storage transaction holds at most 100 operations, all in one partition. */
const MAX_BATCH = 100;

export interface RestoreOptions {
  /** Restore over tables that hold entities: what the snapshot does not hold is deleted. */
  force?: boolean;
  progress?: (line: string) => void;
}

export interface RestoreResult {
  /** The snapshots applied, the full one first. */
  chain: string[];
  /** Entities per table after the restore, as checked against the snapshot's index. */
  tables: Record<string, number>;
}

/** The target holds entities: refused without --force. */
export class TargetNotEmpty extends Error {
  override name = 'TargetNotEmpty';
}

/** Snapshot `name` and those it builds on, the full one first; SnapshotRefused if any is missing or damaged. */
async function chainOf(container: ContainerClient, name: string): Promise<Manifest[]> {
  const chain: Manifest[] = [];
  for (let next: string | undefined = name; next !== undefined; next = chain[0].base) {
    const blob = container.getBlockBlobClient(manifestBlob(next));
    if (!(await blob.exists())) {
      throw new SnapshotRefused(
        next === name ? `snapshot ${next} not found (or incomplete: it has no manifest)` : `base snapshot ${next} of ${name} not found`,
      );
    }
    const manifest = await readManifest(container, next);
    if (chain.some((m) => m.name === manifest.name)) throw new SnapshotRefused(`snapshot ${next} is its own base`);
    chain.unshift(manifest);
  }
  return chain;
}

/** Reads every part the restore will use, checking each against its manifest; SnapshotRefused at the first mismatch. */
async function verifyChain(container: ContainerClient, chain: readonly Manifest[]): Promise<void> {
  const newest = chain[chain.length - 1];
  for (const manifest of chain) {
    for (const table of manifest.tableOrder) {
      const parts = manifest.tables[table];
      if (!parts) throw new SnapshotRefused(`the manifest of ${manifest.name} lists ${table} without its parts`);
      for (const part of [...parts.rows, ...parts.deleted, ...(manifest === newest ? parts.index : [])]) await readPart(container, part);
    }
  }
}

async function isEmpty(table: string): Promise<boolean> {
  const first = await storedEntities(table).next();
  return first.done === true;
}

async function submit(table: string, actions: TransactionAction[]): Promise<void> {
  if (actions.length === 0) return;
  const client = await tableClient(table);
  await storageCall(() => client.submitTransaction(actions), `The table ${table}`);
}

/** Writes the rows of one snapshot's table, in transactions of up to 100 consecutive rows of one partition. */
async function writeRows(container: ContainerClient, table: string, manifest: Manifest): Promise<void> {
  let batch: TransactionAction[] = [];
  let partition: string | undefined;
  for await (const { entity } of partLines<RowLine>(container, manifest.tables[table].rows)) {
    if (batch.length === MAX_BATCH || (partition !== undefined && entity.partitionKey !== partition)) {
      await submit(table, batch);
      batch = [];
    }
    partition = entity.partitionKey;
    batch.push(['upsert', entity, 'Replace']);
  }
  await submit(table, batch);
}

async function deleteEntity(table: string, p: string, r: string): Promise<void> {
  const client = await tableClient(table);
  try {
    await storageCall(() => client.deleteEntity(p, r), `The table ${table}`);
  } catch (error) {
    if (!isStorageError(error, 'gone')) throw error;
  }
}

/**
 * Walks `table` beside the snapshot's index, both in key order: deletes what the index does not hold
 * when `prune`, and returns the entities stored and those that differ from the index (missing, extra
 * or another hash).
 */
async function compareWithIndex(container: ContainerClient, table: string, index: Manifest['tables'][string], prune: boolean) {
  const expected = new Cursor(partLines<IndexLine>(container, index.index));
  let stored = 0;
  const differences: string[] = [];
  const note = (what: string): void => {
    if (differences.length < 5) differences.push(what);
  };
  for await (const { entity } of storedEntities(table)) {
    const line = { p: entity.partitionKey, r: entity.rowKey };
    const matched = await advanceTo(expected, line, (absent) => note(`missing ${absent.p}/${absent.r}`));
    if (matched === undefined) {
      if (prune) await deleteEntity(table, line.p, line.r);
      else note(`not in the snapshot: ${line.p}/${line.r}`);
      continue;
    }
    stored++;
    if (matched.h !== entityHash(entity)) note(`differs: ${line.p}/${line.r}`);
  }
  await advanceTo(expected, undefined, (absent) => note(`missing ${absent.p}/${absent.r}`));
  return { stored, differences };
}

/**
 * Restores snapshot `name` into the configured tables and checks the result. Throws SnapshotRefused
 * (damaged or missing; nothing written), TargetNotEmpty (nothing written), or an Error naming the
 * tables that do not match the snapshot after writing.
 */
export async function restoreSnapshot(name: string, options: RestoreOptions = {}): Promise<RestoreResult> {
  const progress = options.progress ?? (() => undefined);
  const container = await backupContainer();
  const chain = await chainOf(container, name);
  progress(`restoring ${chain.map((m) => `${m.name} (${m.kind})`).join(' + ')}`);
  await verifyChain(container, chain);
  progress('every manifest and part matches its SHA-256, length and count');

  const newest = chain[chain.length - 1];
  const occupied: string[] = [];
  for (const table of newest.tableOrder) if (!(await isEmpty(table))) occupied.push(table);
  if (occupied.length > 0 && !options.force) {
    throw new TargetNotEmpty(`the target is not empty (${occupied.join(', ')} hold entities); restore over it with --force`);
  }

  for (const manifest of chain) {
    for (const table of manifest.tableOrder) {
      await writeRows(container, table, manifest);
      for await (const { p, r } of partLines<DeletedLine>(container, manifest.tables[table].deleted)) await deleteEntity(table, p, r);
    }
    progress(`applied ${manifest.name}`);
  }

  const tables: Record<string, number> = {};
  const failures: string[] = [];
  for (const table of newest.tableOrder) {
    const { stored, differences } = await compareWithIndex(container, table, newest.tables[table], occupied.includes(table));
    tables[table] = stored;
    if (differences.length > 0 || stored !== newest.tables[table].entities) {
      failures.push(`${table}: ${stored} of ${newest.tables[table].entities} entities match (${differences.join('; ')})`);
    }
  }
  if (failures.length > 0) throw new Error(`the restored tables do not match ${name}: ${failures.join(' | ')}`);
  progress(
    `checked: ${Object.entries(tables)
      .map(([t, n]) => `${t} ${n}`)
      .join(', ')}`,
  );
  return { chain: chain.map((m) => m.name), tables };
}
