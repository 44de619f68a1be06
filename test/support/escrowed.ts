import { getKey } from '../../shared/recoveryKeys/store';
import { openPassword } from '../../shared/recoveryKeys/sealing';

// What the escrow holds for a key, read below the HTTP API: the stored record through the key store,
// its password decrypted in the test process with the run's keys (AUTH_MODE=local, the development key
// under LOCAL_STATE_DIR, as globalSetup set them for the host).

/** The decrypted recovery password stored under `id`, or undefined if no record exists. */
export async function escrowedPassword(id: string): Promise<string | undefined> {
  const record = await getKey(id);
  return record && openPassword(record);
}

/** The stored record's ETag (its version), or undefined if none: unchanged ETags prove that nothing was written. */
export async function escrowedEtag(id: string): Promise<string | undefined> {
  return (await getKey(id))?.etag;
}
