import { randomUUID } from 'node:crypto';
import type { AppendBlobClient, ContainerClient } from '@azure/storage-blob';
import { backupContainer } from '../backup/blobs';
import { settings } from '../config';
import { GraphError, serviceUnavailable } from '../errors/graphError';
import { markPrimaryDown, primaryMarkedDown } from '../storage/secondary';
import { storageCall } from '../storage/storageCall';
import { UNREACHABLE_RETRY_AFTER_S } from '../storage/storageError';
import type { AuditEvent } from './model';
import { type AuditEntity, contentOf, rowsOfStored } from './entity';
import { rewindExportCheckpoint } from './exportCheckpoint';
import { writeAuditEntry, writeRows } from './store';

// The audit outbox: where a key read's audit record goes when the audit table cannot take it (its
// storage account's primary region is down, and the key was read from the secondary). It is the
// backup container (BACKUP_CONTAINER), in another storage account than the tables: an outage or an
// attacker that takes the tables' account does not take it, and its immutability policy keeps what is
// written there (append blobs: protected appends are allowed). One append blob per process and UTC
// day, one line per record (an append is atomic), holding the content of the event's AuditLog rows.
// mergeAuditOutbox copies the lines into the audit table once it answers again (the timer in
// functions/backup.ts, and `npm run backup` before each snapshot); a marker blob per merged length
// says how far each outbox blob was merged, since an immutable blob cannot be changed or deleted.
// Merging twice is harmless: the entity's keys are the event's, and the write replaces.

const OUTBOX_PREFIX = 'audit-outbox/';
const MERGED_PREFIX = 'audit-merged/';
const PROCESS_ID = randomUUID();
/** A reveal waits at most this long (ms) for its outbox record, beyond the table calls it made first. */
const OUTBOX_WRITE_MS = 3_000;

const appendBlobs = new Map<string, Promise<AppendBlobClient>>();

function outboxBlob(container: ContainerClient, at: Date, abortSignal: AbortSignal): Promise<AppendBlobClient> {
  const name = `${OUTBOX_PREFIX}${at.toISOString().slice(0, 10)}/${PROCESS_ID}.jsonl`;
  let blob = appendBlobs.get(name);
  if (!blob) {
    const client = container.getAppendBlobClient(name);
    blob = client.createIfNotExists({ blobHTTPHeaders: { blobContentType: 'application/x-ndjson' }, abortSignal }).then(() => client);
    blob.catch(() => appendBlobs.delete(name));
    appendBlobs.set(name, blob);
  }
  return blob;
}

/** Appends the event's AuditLog entity to the outbox; throws the audit trail's 503 when that fails too. */
async function appendToOutbox(event: AuditEvent): Promise<void> {
  try {
    const abortSignal = AbortSignal.timeout(OUTBOX_WRITE_MS);
    const blob = await outboxBlob(await backupContainer(), event.at, abortSignal);
    const line = Buffer.from(`${JSON.stringify(contentOf(event, false))}\n`);
    await blob.appendBlock(line, line.length, { abortSignal });
  } catch (error) {
    const unavailable = serviceUnavailable(
      'The audit trail could not be written, so the operation was not carried out; try again shortly.',
      UNREACHABLE_RETRY_AFTER_S,
    );
    // For the dependencyFailure log line: the outbox failed too (its error's name only, never a URL).
    unavailable.logDetails = { audit: 'outbox', code: error instanceof Error ? error.name : typeof error };
    throw unavailable;
  }
}

/**
 * Records a key read before the key leaves: in the audit table, or, when the tables' primary is down
 * (`fromSecondary`: the key itself was read from the secondary) or the write fails, in the outbox if a
 * backup container is configured. Without one, a failed write is the audit trail's 503 as always.
 */
export async function writeReadAudit(event: AuditEvent, fromSecondary: boolean): Promise<void> {
  if (settings().backup === undefined) return writeAuditEntry(event);
  if (!fromSecondary && !primaryMarkedDown()) {
    try {
      return await writeAuditEntry(event);
    } catch (error) {
      return writeReadAuditToOutbox(event, error);
    }
  }
  await appendToOutbox(event);
}

/**
 * A key read's record whose write to the audit table just failed with `failure`: in the outbox, when the
 * table was unavailable (a 503) and a backup container is configured; else `failure`, thrown as it is.
 */
export async function writeReadAuditToOutbox(event: AuditEvent, failure: unknown): Promise<void> {
  if (settings().backup === undefined || !(failure instanceof GraphError && failure.status === 503)) throw failure;
  markPrimaryDown();
  await appendToOutbox(event);
}

/** How far an outbox blob has been merged (bytes), from its marker blobs. */
async function mergedLength(container: ContainerClient, blob: string): Promise<number> {
  let merged = 0;
  for await (const marker of container.listBlobsFlat({ prefix: `${MERGED_PREFIX}${blob}/` })) {
    merged = Math.max(merged, Number(marker.name.slice(marker.name.lastIndexOf('/') + 1)) || 0);
  }
  return merged;
}

/**
 * Copies every outbox record not merged yet into the audit table; the number copied. Throws when the
 * audit table or the container cannot be reached (the next run continues from the markers).
 */
export async function mergeAuditOutbox(): Promise<number> {
  if (settings().backup === undefined) return 0;
  const container = await backupContainer();
  let copied = 0;
  for await (const item of container.listBlobsFlat({ prefix: OUTBOX_PREFIX })) {
    const length = item.properties.contentLength ?? 0;
    const from = await mergedLength(container, item.name);
    if (length <= from) continue;
    const text = (await container.getAppendBlobClient(item.name).downloadToBuffer(from, length - from)).toString('utf8');
    let earliest: Date | undefined;
    for (const line of text.split('\n').filter(Boolean)) {
      // A line of an earlier version holds the entity with the earlier layout's keys: its rows are rebuilt alike.
      const entity = JSON.parse(line) as AuditEntity;
      await storageCall(() => writeRows(rowsOfStored(entity)), 'The audit record');
      const at = new Date(entity.activityDateTime);
      if (earliest === undefined || at < earliest) earliest = at;
      copied++;
    }
    // The merged records keep their own time, which the export to Log Analytics may have passed: it
    // is moved back before the marker, so that a failure here is retried with the merge.
    if (earliest !== undefined) await rewindExportCheckpoint(earliest);
    await container
      .getBlockBlobClient(`${MERGED_PREFIX}${item.name}/${length}`)
      .uploadData(Buffer.alloc(0), { conditions: { ifNoneMatch: '*' } });
  }
  return copied;
}
