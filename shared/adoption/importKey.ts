import { asGraphError } from '../http/asGraphError';
import { GraphError } from '../http/graphError';
import type { AuditSource } from '../audit/model';
import type { RecoveryKey, StoredRecoveryKey } from '../recoveryKeys/model';
import { isStoredPassword } from '../recoveryKeys/sealing';
import { getRecoveryKey, upsertRecoveryKey } from '../recoveryKeys/service';

// One key brought in by an adoption tool (the Entra mirror, the file importer), stored through the
// same use case as a PATCH: same validation, encryption and audit trail.
//
// A recovery password never changes under its key id (BitLocker gives a rotated password a new id), so a
// stored key with another password is a conflict to report, never a value to overwrite. The PATCH use
// case refuses that itself with a 409; the importer compares first anyway, with the same check, so that a
// row already escrowed exactly so is reported unchanged without a write or a "No change" audit entry.

/**
 * - `imported`: the key was not escrowed and now is.
 * - `updated`: it was, with the same password, and its device or volume type changed (a re-joined device).
 * - `unchanged`: it was, exactly so; nothing was written.
 * - `conflict`: it was, with another password; nothing was written.
 */
export type ImportOutcome = 'imported' | 'updated' | 'unchanged' | 'conflict';

/** Whether the use case's error answers `status` (a storage outcome that escaped it as the answer it becomes). */
const isStatus = (error: unknown, status: number): boolean => {
  const answer = asGraphError(error);
  return answer instanceof GraphError && answer.status === status;
};

/** Another writer creating the same id between our read and our write: read again, this many times at most. */
const MAX_ATTEMPTS = 3;

/** The stored key with this id, or undefined; a metadata read (the password stays sealed, nothing is audited). */
export async function findEscrowedKey(id: string): Promise<StoredRecoveryKey | undefined> {
  try {
    return await getRecoveryKey(id);
  } catch (error) {
    if (isStatus(error, 404)) return undefined;
    throw error;
  }
}

async function writeKey(key: RecoveryKey, stored: StoredRecoveryKey | undefined, source: AuditSource): Promise<ImportOutcome> {
  if (!stored) {
    // If-None-Match: * : a key created meanwhile by someone else is looked at again, not overwritten.
    await upsertRecoveryKey(key.id, key, { ifNoneMatch: '*' }, source);
    return 'imported';
  }
  if (!isStoredPassword(stored, key.key)) return 'conflict';
  if (stored.deviceId === key.deviceId && stored.volumeType === key.volumeType) return 'unchanged';
  // createdDateTime stays as first stored: the use case refuses to change it.
  await upsertRecoveryKey(key.id, { deviceId: key.deviceId, volumeType: key.volumeType, key: key.key }, { ifMatch: stored.etag }, source);
  return 'updated';
}

/**
 * Stores `key` (already validated by the recoveryKeys schema) unless an equal one is escrowed.
 * Throws what the use case throws (GraphError: 503 when storage or the audit trail is unavailable,
 * 400 for a key the schema refuses); a 409 from it is the immutability rule and becomes `conflict`.
 */
export async function importRecoveryKey(key: RecoveryKey, source: AuditSource): Promise<ImportOutcome> {
  for (let attempt = 1; ; attempt++) {
    const stored = await findEscrowedKey(key.id);
    try {
      return await writeKey(key, stored, source);
    } catch (error) {
      if (isStatus(error, 409)) return 'conflict';
      // 412: created or changed since our read.
      if (!isStatus(error, 412) || attempt >= MAX_ATTEMPTS) throw error;
    }
  }
}
