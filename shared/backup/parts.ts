import { gunzipSync, gzipSync } from 'node:zlib';
import type { ContainerClient } from '@azure/storage-blob';
import { type Part, type PartKind, partBlob, sha256, SnapshotRefused } from './snapshot';

// Parts of a snapshot: JSON lines, gzipped, written once (If-None-Match: *) and read back one at a
// time. Memory holds at most one part, whatever the size of the table.

/** A part is cut at this many lines or this many bytes of JSON, whichever comes first. */
const PART_LINES = 5_000;
const PART_BYTES = 8 * 1024 * 1024;

/** Collects the lines of one kind of part for one table of one snapshot and uploads them part by part. */
export class PartWriter<T> {
  readonly parts: Part[] = [];
  private lines: string[] = [];
  private bytes = 0;
  count = 0;

  constructor(
    private readonly container: ContainerClient,
    private readonly snapshot: string,
    private readonly table: string,
    private readonly kind: PartKind,
  ) {}

  async add(line: T): Promise<void> {
    const text = JSON.stringify(line);
    this.lines.push(text);
    this.bytes += text.length + 1;
    this.count++;
    if (this.lines.length >= PART_LINES || this.bytes >= PART_BYTES) await this.flush();
  }

  /** Uploads what is buffered as the next part; nothing when the buffer is empty. */
  async flush(): Promise<void> {
    if (this.lines.length === 0) return;
    const body = gzipSync(Buffer.from(`${this.lines.join('\n')}\n`));
    const blob = partBlob(this.snapshot, this.table, this.kind, this.parts.length);
    // Never over an existing blob: a name is written once, and an immutable container would refuse it anyway.
    await this.container.getBlockBlobClient(blob).uploadData(body, {
      conditions: { ifNoneMatch: '*' },
      blobHTTPHeaders: { blobContentType: 'application/gzip' },
    });
    this.parts.push({ blob, entities: this.lines.length, bytes: body.length, sha256: sha256(body) });
    this.lines = [];
    this.bytes = 0;
  }
}

/**
 * The lines of one part, after checking it against the manifest: its byte length, its SHA-256 and its
 * number of lines. SnapshotRefused says what did not match (a truncated blob fails the first check).
 */
export async function readPart<T>(container: ContainerClient, part: Part): Promise<T[]> {
  let body: Buffer;
  try {
    body = await container.getBlockBlobClient(part.blob).downloadToBuffer();
  } catch (error) {
    if ((error as { statusCode?: number }).statusCode === 404) throw new SnapshotRefused(`${part.blob} is missing`);
    throw error;
  }
  if (body.length !== part.bytes)
    throw new SnapshotRefused(`${part.blob} is ${body.length} bytes, the manifest says ${part.bytes} (truncated?)`);
  if (sha256(body) !== part.sha256) throw new SnapshotRefused(`${part.blob} does not match its SHA-256 in the manifest (corrupted)`);
  let lines: string[];
  try {
    lines = gunzipSync(body).toString('utf8').split('\n').filter(Boolean);
  } catch {
    throw new SnapshotRefused(`${part.blob} is not gzip`);
  }
  if (lines.length !== part.entities)
    throw new SnapshotRefused(`${part.blob} holds ${lines.length} lines, the manifest says ${part.entities}`);
  try {
    return lines.map((line) => JSON.parse(line) as T);
  } catch {
    throw new SnapshotRefused(`${part.blob} holds a line that is not JSON`);
  }
}

/** Every line of `parts`, in order, one part in memory at a time. */
export async function* partLines<T>(container: ContainerClient, parts: readonly Part[]): AsyncGenerator<T> {
  for (const part of parts) yield* await readPart<T>(container, part);
}
