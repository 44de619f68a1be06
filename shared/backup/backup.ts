import type { ContainerClient } from '@azure/storage-blob';
import { backupContainer } from './blobs';
import { advanceTo, Cursor, emptyCursor } from './cursor';
import { storedEntities, tablesInOrder } from './entities';
import { PartWriter, partLines } from './parts';
import {
  type DeletedLine,
  entityHash,
  FORMAT,
  type IndexLine,
  type Manifest,
  manifestBlob,
  manifestChecksum,
  parseManifest,
  type RowLine,
  SNAPSHOT_NAME,
  snapshotName,
  SNAPSHOTS_PREFIX,
  type TableSnapshot,
} from './snapshot';

// A snapshot of every table to the backup container (snapshot.ts has the format).
//
// Consistency. Table Storage has no point-in-time snapshot, so "consistent" means here:
// - each entity is copied whole, at one committed version (an entity is one atomic read), and the
//   key record with its audit twins, one partition written by transactions, at the versions one page
//   read them at;
// - the watermark is taken before the first read: every change committed before it is in the snapshot
//   (at that version or a later one); a change during the run may or may not be, and the next
//   incremental copies every entity with a storage Timestamp later than the latest this one saw in its
//   table, and any whose content hash differs from this one's index (a change made during the run to
//   an entity already read, with an earlier Timestamp than one read after it): nothing falls between two;
// - the key records are read first, the device index and the audit trail after: a write stores those
//   before its record, so a record in the snapshot has its index entry and its audit entry in it too.
//   An index entry or audit entry without a record (a write cut off, or made during the run) is what the
//   service already tolerates and hides.
// Incremental. A snapshot names its base; it holds the entities changed since the base (by storage
// Timestamp, the server's clock on both sides, and by content hash against the base's index), the
// keys deleted since (the base's index walked beside the table, both in key order), and the whole
// table's index (keys and hashes), which the next incremental and restore's check read. A full snapshot every FULL_EVERY keeps chains short.
// Integrity. Every part's byte length, line count and SHA-256 are in the manifest, which is written
// last (a run that stops leaves no manifest, and restore ignores it) and carries its own checksum.

/** Snapshots in a chain, the full one included, before the next run starts a new full one. */
export const FULL_EVERY = 8;

export interface BackupOptions {
  /** A full snapshot even when an incremental one could be made. */
  full?: boolean;
  /** Progress lines (table names and counts; never an entity). */
  progress?: (line: string) => void;
  now?: () => Date;
}

/** The names of every snapshot with a manifest, oldest first (a run that stopped has none and is left out). */
export async function listSnapshots(container: ContainerClient): Promise<string[]> {
  const names: string[] = [];
  for await (const item of container.listBlobsByHierarchy('/', { prefix: SNAPSHOTS_PREFIX })) {
    if (item.kind !== 'prefix') continue;
    const name = item.name.slice(SNAPSHOTS_PREFIX.length).replace(/\/$/, '');
    if (SNAPSHOT_NAME.test(name)) names.push(name);
  }
  names.sort();
  const complete: string[] = [];
  for (const name of names) if (await container.getBlockBlobClient(manifestBlob(name)).exists()) complete.push(name);
  return complete;
}

/** The manifest of snapshot `name`, checked (snapshot.ts parseManifest). */
export async function readManifest(container: ContainerClient, name: string): Promise<Manifest> {
  const blob = container.getBlockBlobClient(manifestBlob(name));
  return parseManifest((await blob.downloadToBuffer()).toString('utf8'), name);
}

/** How many snapshots lead from `manifest` back to its full one (0 for a full one). */
async function depthOf(container: ContainerClient, manifest: Manifest): Promise<number> {
  let depth = 0;
  for (let m = manifest; m.base !== undefined; m = await readManifest(container, m.base)) depth++;
  return depth;
}

async function snapshotTable(container: ContainerClient, name: string, table: string, base: Manifest | undefined): Promise<TableSnapshot> {
  const rows = new PartWriter<RowLine>(container, name, table, 'rows');
  const index = new PartWriter<IndexLine>(container, name, table, 'index');
  const deleted = new PartWriter<DeletedLine>(container, name, table, 'deleted');
  const baseIndex = base?.tables[table];
  const since = baseIndex?.maxTimestamp;
  let maxTimestamp: string | undefined;
  const previous = baseIndex ? new Cursor(partLines<IndexLine>(container, baseIndex.index)) : emptyCursor<IndexLine>();

  for await (const { entity, timestamp } of storedEntities(table)) {
    const line: IndexLine = { p: entity.partitionKey, r: entity.rowKey, h: entityHash(entity) };
    const before = await advanceTo(previous, line, (gone) => deleted.add({ p: gone.p, r: gone.r }));
    if (timestamp !== undefined && (maxTimestamp === undefined || timestamp > maxTimestamp)) maxTimestamp = timestamp;
    const changed = before?.h !== line.h || since === undefined || timestamp === undefined || timestamp > since;
    if (changed) await rows.add({ timestamp, entity });
    await index.add(line);
  }
  await advanceTo(previous, undefined, (gone) => deleted.add({ p: gone.p, r: gone.r }));
  await Promise.all([rows.flush(), index.flush(), deleted.flush()]);
  return {
    rows: rows.parts,
    index: index.parts,
    deleted: deleted.parts,
    entities: index.count,
    changed: rows.count,
    deletedCount: deleted.count,
    ...(maxTimestamp !== undefined && { maxTimestamp }),
  };
}

/** Writes one snapshot, incremental on the newest one unless `full` or its chain is FULL_EVERY long; its manifest. */
export async function runBackup(options: BackupOptions = {}): Promise<Manifest> {
  const now = options.now ?? (() => new Date());
  const progress = options.progress ?? (() => undefined);
  const container = await backupContainer();
  const watermark = now();
  const name = snapshotName(watermark);

  const latestName = options.full ? undefined : (await listSnapshots(container)).pop();
  const latest = latestName === undefined ? undefined : await readManifest(container, latestName);
  const incremental = latest !== undefined && (await depthOf(container, latest)) + 1 < FULL_EVERY;
  const base = incremental ? latest : undefined;
  progress(base ? `incremental snapshot ${name} on ${base.name}` : `full snapshot ${name}`);

  const tableOrder = tablesInOrder();
  const tables: Record<string, TableSnapshot> = {};
  for (const table of tableOrder) {
    tables[table] = await snapshotTable(container, name, table, base);
    const { entities, changed, deletedCount } = tables[table];
    progress(`${table}: ${entities} entities, ${changed} copied, ${deletedCount} deleted since the base`);
  }

  const unsigned: Omit<Manifest, 'checksum'> = {
    format: FORMAT,
    name,
    kind: base ? 'incremental' : 'full',
    ...(base && { base: base.name }),
    watermark: watermark.toISOString(),
    finishedAt: now().toISOString(),
    tableOrder,
    tables,
  };
  const manifest: Manifest = { ...unsigned, checksum: manifestChecksum(unsigned) };
  const text = JSON.stringify(manifest, null, 2);
  await container.getBlockBlobClient(manifestBlob(name)).uploadData(Buffer.from(text), {
    conditions: { ifNoneMatch: '*' },
    blobHTTPHeaders: { blobContentType: 'application/json' },
  });
  return manifest;
}
