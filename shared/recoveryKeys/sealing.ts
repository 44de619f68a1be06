import { timingSafeEqual } from 'node:crypto';
import { DecryptionError, open, type Sealed, seal } from '../crypto/envelope';
import { keyring } from '../crypto/keyring';
import { GraphError } from '../errors/graphError';
import type { KeyRecord } from './model';

/** The recovery password sealed for the record with this id: the id is bound, so the ciphertext is useless in any other record. */
export function sealPassword(id: string, password: string): Sealed {
  return seal(keyring(), id, password);
}

export function isSealedWithActiveKey(record: KeyRecord): boolean {
  return record.sealed.keyVersion === keyring().active;
}

/**
 * The recovery password of a stored record. A ciphertext that fails to open is never answered with a
 * wrong key: it is an error that says the record cannot be trusted (altered, copied from another
 * record, or sealed under a key version this deployment does not have).
 */
export function openPassword(record: KeyRecord): string {
  try {
    return open(keyring(), record.id, record.sealed);
  } catch (error) {
    if (!(error instanceof DecryptionError)) throw error;
    throw new GraphError(
      500,
      'generalException',
      `The stored recovery key ${record.id} cannot be decrypted: ${error.message}. No key is returned; report this to the service's administrators.`,
    );
  }
}

/**
 * Whether `password` is the record's recovery password, compared in time that does not depend on where
 * they differ. Decrypts the record (errors as openPassword).
 */
export function isStoredPassword(record: KeyRecord, password: string): boolean {
  const [sent, stored] = [Buffer.from(password), Buffer.from(openPassword(record))];
  return sent.length === stored.length && timingSafeEqual(sent, stored);
}
