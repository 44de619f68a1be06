import { GraphError } from '../errors/graphError';
import type { AuditSource } from '../audit/model';
import type { RecoveryKey, StoredRecoveryKey } from '../recoveryKeys/model';
import { isStoredPassword } from '../recoveryKeys/sealing';
import { findRecoveryKey, insertImportedKey, upsertRecoveryKey } from '../recoveryKeys/service';
import { KeyDeletedError, PasswordChangedError } from '../recoveryKeys/writeRefusals';
import { LostRace, retryLostRaces } from '../storage/retryLostRaces';
import { isStorageError } from '../storage/storageError';

// One key brought in by an adoption tool (the Entra mirror, the file importer), stored through the
// same use case as a PATCH: same validation, encryption and audit trail.
//
// A recovery password never changes under its key id (BitLocker gives a rotated password a new id), so a
// stored key with another password is a conflict to report, never a value to overwrite. The PATCH use
// case refuses that itself with a 409; the importer compares first anyway, with the same check, so that a
// row already escrowed exactly so is reported unchanged without a write or a "No change" audit entry.
// That read is the only one: a key it finds absent is inserted at once (conditionally: a key created
// meanwhile is a lost race, decided again from a fresh read), a new key costs its read and the insert's
// writes, as a PATCH does. A caller that has read the key itself (the mirror, to know whether to ask
// Entra for it) hands its read over, and the first attempt reads nothing.

/**
 * - `imported`: the key was not escrowed and now is.
 * - `updated`: it was, with the same password, and its device or volume type changed (a re-joined device).
 * - `unchanged`: it was, exactly so; nothing was written.
 * - `conflict`: it was, with another password; nothing was written.
 * - `deleted`: its id belongs to a deleted key, kept for restoring; nothing was written (restore or purge it first).
 */
export type ImportOutcome = 'imported' | 'updated' | 'unchanged' | 'conflict' | 'deleted';

/** Created or changed by another writer since our read: our write was refused, and a fresh read decides again. */
const lostRace = (error: unknown): boolean =>
  isStorageError(error, 'exists', 'versionMoved') || (error instanceof GraphError && error.code === 'preconditionFailed');

/** Another writer creating the same id between our read and our write: read again, this many times at most. */
const MAX_ATTEMPTS = 3;

/**
 * The stored key with this id, deleted or not, or undefined; a metadata read (the password stays sealed,
 * nothing is audited). A deleted key is returned too: its id is taken until it is restored or purged.
 */
export const findEscrowedKey = (id: string): Promise<StoredRecoveryKey | undefined> => findRecoveryKey(id);

async function writeKey(key: RecoveryKey, stored: StoredRecoveryKey | undefined, source: AuditSource): Promise<ImportOutcome> {
  if (!stored) {
    // Conditional: a key created meanwhile by someone else is looked at again, not overwritten.
    await insertImportedKey(key, source);
    return 'imported';
  }
  if (stored.deletedDateTime !== undefined) return 'deleted';
  if (!isStoredPassword(stored, key.key)) return 'conflict';
  if (stored.deviceId === key.deviceId && stored.volumeType === key.volumeType) return 'unchanged';
  // createdDateTime stays as first stored: the use case refuses to change it.
  await upsertRecoveryKey(key.id, { deviceId: key.deviceId, volumeType: key.volumeType, key: key.key }, { ifMatch: stored.etag }, source);
  return 'updated';
}

/**
 * What the caller read of the key's id (`findEscrowedKey`) and when (Date.now()): the first attempt uses
 * it rather than read again while it is at most EARLIER_READ_FRESH_MS old. An older one is read again: a
 * new key's write first overwrites the device index entry of its id (recoveryKeys/store.ts insertKey), which a key
 * escrowed meanwhile by its device has, and then finds the key there.
 */
export interface EarlierRead {
  stored: StoredRecoveryKey | undefined;
  at: number;
}

/** How old an earlier read may be and still spare a read: a moment, as between two calls, not a Graph read's retries. */
export const EARLIER_READ_FRESH_MS = 1_000;

/**
 * Stores `key` (already validated by the recoveryKeys schema) unless an equal one is escrowed.
 * Throws what the use case throws (GraphError: 503 when storage or the audit trail is unavailable,
 * 400 for a key the schema refuses), except the refusals it names: another password under the id is
 * `conflict`, a deleted key under it `deleted`, and a lost race is decided again from a fresh read.
 */
export function importRecoveryKey(key: RecoveryKey, source: AuditSource, read?: EarlierRead): Promise<ImportOutcome> {
  return retryLostRaces(
    MAX_ATTEMPTS,
    async (attempt) => {
      const fresh = attempt === 1 && read !== undefined && Date.now() - read.at <= EARLIER_READ_FRESH_MS;
      const stored = fresh ? read.stored : await findEscrowedKey(key.id);
      try {
        return await writeKey(key, stored, source);
      } catch (error) {
        if (error instanceof PasswordChangedError) return 'conflict';
        if (error instanceof KeyDeletedError) return 'deleted';
        if (lostRace(error)) return new LostRace(error);
        throw error;
      }
    },
    // The last lost race is reported as what it was.
    (last) => {
      throw last.error;
    },
  );
}
