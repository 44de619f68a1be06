import type { TransactionAction } from '@azure/data-tables';
import { GraphError, serviceUnavailable } from '../errors/graphError';
import { LostRace, retryLostRaces } from '../storage/retryLostRaces';
import { isStorageError, StorageError, toStorageError, UNREACHABLE_RETRY_AFTER_S } from '../storage/storageError';
import { tableClient } from '../storage/tables';
import { type AuditEntity, contentOf, keysOfStored, refusalsOf, rowsOfEvent } from './entity';
import { type AuditEvent, sumRefusals } from './model';
import { positionOf, rowsOf } from './rows';
import { TABLES } from '../storage/layout';

// Writes of the audit trail. Layout: shared/audit/rows.ts. A successful write of a key (or a device
// status) also stores a twin in the key's partition of RecoveryKeys (the device's of DeviceStatuses),
// RowKey 'audit-' + the event's position, in the same transaction as the record: the write and its
// audit commit together. The AuditLog rows, written just before, are the indexes and are shown only
// once that twin exists (shared/audit/listing.ts). Events with no record write (key reads, refusals)
// are their AuditLog rows alone.

export const AUDIT_TABLE = TABLES.auditLog;

export const twinRowKey = (event: AuditEvent): string => `audit-${positionOf(event.at, event.id)}`;

export { listAuditEvents, type AuditPage, type AuditQuery } from './listing';

/** The audit trail's 503, passing on when storage asked us to come back (if it said). */
export function auditUnavailable(cause: unknown): GraphError {
  const outcome = toStorageError(cause);
  const unavailable = serviceUnavailable(
    'The audit trail could not be written, so the operation was not carried out; try again shortly.',
    (outcome instanceof StorageError ? outcome.retryAfterSeconds : undefined) ?? UNREACHABLE_RETRY_AFTER_S,
  );
  // The failed call's details (call, code, tries, ms) for graphHandler's dependencyFailure log line,
  // marked as the audit trail's: an operation refused for want of its audit record is alerted on
  // (infra/resources.bicep), and a `POST $batch` alone does not say which table failed.
  unavailable.logDetails = { ...(outcome instanceof StorageError ? outcome.details : {}), audit: 'table' };
  return unavailable;
}

/** Writes rows of one partition in one transaction (every row of an event shares its partition). */
export async function writeRows(rows: ReturnType<typeof rowsOfEvent>): Promise<void> {
  await (await tableClient(AUDIT_TABLE)).submitTransaction(rows.map((row): TransactionAction => ['upsert', row, 'Replace']));
}

/**
 * Writes the AuditLog rows of an event, in one transaction. `hasTwin` marks the rows of a write whose
 * twin goes into the key's partition with the record; such rows are hidden until that transaction commits.
 * Any failure is a 503: an operation whose audit cannot be written does not happen.
 */
export async function writeAuditEntry(event: AuditEvent, hasTwin = false): Promise<void> {
  try {
    await writeRows(rowsOfEvent(event, hasTwin));
  } catch (error) {
    throw auditUnavailable(error);
  }
}

/** Tries of a summary merge before it gives up: each lost race means another instance's merge went in. */
const MAX_MERGE_ATTEMPTS = 8;

/**
 * Adds a refusal summary's counts into its rows. Their keys are fixed by the event (its minute and its
 * deterministic id), so every instance adds into the same rows: created if absent, else replaced
 * against the ETag of the time row just read, and re-read after a lost race (409 on create, 412 on
 * replace). The newest merge's request-id, headers and reason are kept with the summed counts. Any
 * storage failure is a 503.
 */
export async function addToRefusalSummary(event: AuditEvent): Promise<void> {
  const added = event.refusals;
  if (!added) throw new Error('addToRefusalSummary needs an event with refusals');
  const { partitionKey, rowKeys } = rowsOf(keysOfStored(contentOf(event, false)));
  const [timeRow, ...otherRows] = rowKeys;
  let merged: boolean;
  try {
    const client = await tableClient(AUDIT_TABLE);
    merged = await retryLostRaces(
      MAX_MERGE_ATTEMPTS,
      async () => {
        let stored: (AuditEntity & { etag: string }) | undefined;
        try {
          stored = await client.getEntity<AuditEntity>(partitionKey, timeRow);
        } catch (error) {
          if (!isStorageError(error, 'gone')) throw error;
        }
        const storedCounts = stored && refusalsOf(stored);
        const content = contentOf({ ...event, refusals: storedCounts ? sumRefusals(storedCounts, added) : added }, false);
        const time = { ...content, partitionKey, rowKey: timeRow };
        const others = otherRows.map((rowKey): TransactionAction => ['upsert', { ...content, partitionKey, rowKey }, 'Replace']);
        try {
          await client.submitTransaction([stored ? ['update', time, 'Replace', { etag: stored.etag }] : ['create', time], ...others]);
          return true;
        } catch (error) {
          if (isStorageError(error, 'exists', 'versionMoved')) return new LostRace(error);
          throw error;
        }
      },
      () => false,
    );
  } catch (error) {
    throw auditUnavailable(error);
  }
  if (!merged) throw serviceUnavailable('The audit trail is being changed by other requests; try again.', 1);
}
