import { toStorageError } from './storageError';

/**
 * Runs one storage call; its failure is thrown as a StorageError about `subject` (storageError.ts),
 * anything that is not a storage failure as it was.
 */
export async function storageCall<T>(call: () => Promise<T>, subject?: string): Promise<T> {
  try {
    return await call();
  } catch (error) {
    throw toStorageError(error, subject);
  }
}
