import { createHash } from 'node:crypto';
import type Joi from 'joi';
import { builtOnFirstUse } from '../validation/lazyJoi';

// The format of a snapshot in the backup container, written by backup.ts and read by restore.ts:
//
//   snapshots/{name}/manifest.json                 written last: a snapshot without it is incomplete
//   snapshots/{name}/{table}/rows-{n}.jsonl.gz     entities written since the base snapshot (all, in a full)
//   snapshots/{name}/{table}/index-{n}.jsonl.gz    every entity's keys and content hash, in storage order
//   snapshots/{name}/{table}/deleted-{n}.jsonl.gz  keys in the base snapshot's index and no longer stored
//
// A row line is `{"timestamp": …, "entity": {PartitionKey, RowKey, property: {value, type}}}`: the
// entity as the table stores it (typed values, so an Int64 or a Double comes back as what it was;
// sealed recovery passwords stay sealed). An index line is `{"p", "r", "h"}`, h the SHA-256 of the
// row's canonical JSON; a deleted line is `{"p", "r"}`. The manifest lists every part with its entity
// count, byte length and SHA-256, and carries the SHA-256 of its own canonical JSON.

export const FORMAT = 'escrow-backup/1';
export const SNAPSHOTS_PREFIX = 'snapshots/';

/** One typed value as the Tables SDK gives it with disableTypeConversion. */
export interface TypedValue {
  value: string;
  type: string;
}

/** An entity as stored: its keys and its typed properties (no ETag, no Timestamp: storage sets those). */
export type StoredEntity = { partitionKey: string; rowKey: string } & Record<string, string | TypedValue>;

export interface RowLine {
  timestamp?: string;
  entity: StoredEntity;
}

export interface IndexLine {
  p: string;
  r: string;
  h: string;
}

export interface DeletedLine {
  p: string;
  r: string;
}

export type PartKind = 'rows' | 'index' | 'deleted';

export interface Part {
  blob: string;
  entities: number;
  bytes: number;
  sha256: string;
}

export interface TableSnapshot {
  rows: Part[];
  index: Part[];
  deleted: Part[];
  /** Entities stored when the table was read (the index's length). */
  entities: number;
  /** Entities in rows parts: changed since the base snapshot (every one in a full). */
  changed: number;
  deletedCount: number;
  /** The latest storage Timestamp among the entities read: the next incremental copies what is later. */
  maxTimestamp?: string;
}

export interface Manifest {
  format: typeof FORMAT;
  name: string;
  kind: 'full' | 'incremental';
  /** The snapshot this one adds to (incremental only); following `base` leads to a full one. */
  base?: string;
  /** When the run started reading: every change stored before it is in this snapshot. */
  watermark: string;
  finishedAt: string;
  /** In the order they were read and are restored: the key records first. */
  tableOrder: string[];
  tables: Record<string, TableSnapshot>;
  /** SHA-256 of the canonical JSON of this manifest without this field. */
  checksum: string;
}

/** JSON with object keys sorted at every level: the same entity hashes the same whatever order its properties came in. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

export const sha256 = (data: string | Buffer): string => createHash('sha256').update(data).digest('hex');

export const entityHash = (entity: StoredEntity): string => sha256(canonicalJson(entity));

export const manifestChecksum = (manifest: Omit<Manifest, 'checksum'> & { checksum?: string }): string =>
  sha256(canonicalJson({ ...manifest, checksum: undefined }));

/** Storage's order of entities in a listing: by PartitionKey, then RowKey. */
export function compareKeys(a: { p: string; r: string }, b: { p: string; r: string }): number {
  if (a.p !== b.p) return a.p < b.p ? -1 : 1;
  return a.r < b.r ? -1 : a.r > b.r ? 1 : 0;
}

export const manifestBlob = (name: string): string => `${SNAPSHOTS_PREFIX}${name}/manifest.json`;
export const partBlob = (name: string, table: string, kind: PartKind, n: number): string =>
  `${SNAPSHOTS_PREFIX}${name}/${table}/${kind}-${String(n).padStart(5, '0')}.jsonl.gz`;

/** `snapshot-20261206T110512345Z`: sorts by time, and a timestamp is all a name needs to be unique for one writer. */
export const snapshotName = (at: Date): string => `snapshot-${at.toISOString().replace(/[-:.]/g, '')}`;
export const SNAPSHOT_NAME = /^snapshot-\d{8}T\d{9}Z$/;

/** The manifest's schema (joi loaded on first use: shared/validation/lazyJoi.ts). */
const manifestSchema = builtOnFirstUse((Joi) => {
  const part = Joi.object({
    blob: Joi.string().required(),
    entities: Joi.number().integer().min(0).required(),
    bytes: Joi.number().integer().min(0).required(),
    sha256: Joi.string()
      .pattern(/^[0-9a-f]{64}$/)
      .required(),
  });
  const tableSnapshot = Joi.object({
    rows: Joi.array().items(part).required(),
    index: Joi.array().items(part).required(),
    deleted: Joi.array().items(part).required(),
    entities: Joi.number().integer().min(0).required(),
    changed: Joi.number().integer().min(0).required(),
    deletedCount: Joi.number().integer().min(0).required(),
    maxTimestamp: Joi.string().isoDate(),
  });
  return Joi.object({
    format: Joi.string().valid(FORMAT).required(),
    name: Joi.string().pattern(SNAPSHOT_NAME).required(),
    kind: Joi.string().valid('full', 'incremental').required(),
    base: Joi.when('kind', { is: 'incremental', then: Joi.string().pattern(SNAPSHOT_NAME).required(), otherwise: Joi.forbidden() }),
    watermark: Joi.string().isoDate().required(),
    finishedAt: Joi.string().isoDate().required(),
    tableOrder: Joi.array().items(Joi.string()).required(),
    tables: Joi.object().pattern(Joi.string(), tableSnapshot).required(),
    checksum: Joi.string()
      .pattern(/^[0-9a-f]{64}$/)
      .required(),
  });
});

/** A snapshot that cannot be restored, and why: the reason is printed as it is. */
export class SnapshotRefused extends Error {
  override name = 'SnapshotRefused';
}

/** The manifest in `text`, checked against its schema and its own checksum; SnapshotRefused otherwise. */
export function parseManifest(text: string, expectedName: string): Manifest {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new SnapshotRefused(`the manifest of ${expectedName} is not JSON (truncated or corrupted)`);
  }
  const result: Joi.ValidationResult<Manifest> = manifestSchema().validate(parsed, { convert: false });
  if (result.error) throw new SnapshotRefused(`the manifest of ${expectedName} is malformed: ${result.error.message}`);
  const manifest = result.value;
  if (manifest.name !== expectedName)
    throw new SnapshotRefused(`the manifest of ${expectedName} names another snapshot (${manifest.name})`);
  if (manifestChecksum(manifest) !== manifest.checksum)
    throw new SnapshotRefused(`the manifest of ${expectedName} does not match its checksum`);
  return manifest;
}
