import { DecryptionError, type EncryptionKeyring, open, seal } from '../../shared/crypto/envelope';
import { keyring } from '../../shared/crypto/keyring';
import type { StoredRecoveryKey } from '../../shared/recoveryKeys/model';
import { getSameRow, listKeys, resealKey } from '../../shared/recoveryKeys/store';
import { systemSource } from '../../shared/recoveryKeys/deletedKeys';
import { recordCommandRun } from '../../shared/audit/commandRun';
import { describeError } from '../../shared/errors/describeError';
import { forEachLimit } from '../../shared/runs/forEachLimit';
import { DEFAULT_PROGRESS_EVERY_MS } from '../../shared/runs/progress';
import { LostRace, retryLostRaces } from '../../shared/storage/retryLostRaces';
import { isStorageError, StorageError } from '../../shared/storage/storageError';
import { parseCommandLine, runCommand, wholeNumber } from './commandLine';

// `npm run reencrypt`: moves every stored recovery key to the active encryption key version
// (ENCRYPTION_ACTIVE_KEY), so that an old version can be removed from ENCRYPTION_KEYS.
//
// Settings are the service's own (shared/config): STORAGE_CONNECTION_STRING or STORAGE_TABLE_ENDPOINT
// (then DefaultAzureCredential: on a workstation, your `az login`, which needs the Storage Table Data
// Contributor role on the account), ENCRYPTION_KEYS,
// ENCRYPTION_ACTIVE_KEY, and AUTH_MODE / LOCAL_STATE_DIR for the development key (used only with
// AUTH_MODE=local set explicitly: unlike `npm start`, this tool does not default to local). ENCRYPTION_KEYS
// must hold every version still in use plus the active one; the service must already be running with
// the same active version, or it keeps writing records this run then has to move again.
//
// - Safe while the service runs: each record is replaced only if it is still at the ETag it was read
//   at. A concurrent write (412) makes it read the record again: the writer usually sealed it under
//   the active version already; if not (a metadata-only PATCH keeps the old ciphertext) it is moved
//   again. A record purged meanwhile (404) is skipped; deleted keys, kept restorable, are moved like
//   live ones. Audit twins and device index rows are not touched, and nothing but the ciphertext and
//   its key version changes.
// - Resumable and idempotent: only records not yet on the active version are touched, so a rerun
//   after an interruption continues where the last one stopped, and a rerun after success moves nothing.
// - Output: progress on stderr (at most every ~2 s), one summary line on stdout. Record ids and key
//   version names are printed, never a key or a recovery password.
// - Exit code: 0 when every record is on the active version; 1 when some records cannot be decrypted
//   (named on stderr; they stay as they are); 2 when the run could not complete (bad settings,
//   storage unavailable): rerun to continue.

const COMMAND = {
  tool: 'reencrypt',
  usage: 'usage: npm run reencrypt [-- --page-size N] [--progress-every MS]',
  options: { 'page-size': { type: 'string' }, 'progress-every': { type: 'string' } },
} as const;

const DEFAULT_PAGE_SIZE = 100;
/** Records of one page resealed at once: enough to hide storage latency, few enough to leave the service its share. */
const CONCURRENCY = 8;
/** Re-reads of one record that keeps being changed under us before it counts as failed. */
const MAX_RESEAL_ATTEMPTS = 5;
/** Storage unavailable (503 from the store): tries per call, with a growing wait between them. */
const MAX_STORAGE_TRIES = 6;
const MAX_STORAGE_WAIT_MS = 10_000;

export interface ReencryptOptions {
  pageSize?: number;
  progressEveryMs?: number;
  /** Where progress lines go; stderr by default. */
  progress?: (line: string) => void;
}

export interface ReencryptResult {
  activeVersion: string;
  scanned: number;
  moved: number;
  alreadyActive: number;
  /** Deleted between our read and our write. */
  gone: number;
  /** Records whose first write lost a race with a concurrent writer (412) and were read again. */
  retried: number;
  /** Records that cannot be decrypted with the configured keys, by id, with the reason (never key material). */
  failed: { id: string; reason: string }[];
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** A store call, tried again while storage is unavailable (the store's own retries already ran); other errors pass through. */
async function withStorage<T>(call: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await call();
    } catch (error) {
      if (!(error instanceof StorageError && isStorageError(error, 'throttled', 'unavailable', 'denied')) || attempt >= MAX_STORAGE_TRIES)
        throw error;
      const hinted = (error.retryAfterSeconds ?? 0) * 1000;
      await sleep(Math.min(MAX_STORAGE_WAIT_MS, hinted > 0 ? hinted : 1000 * attempt));
    }
  }
}

type Outcome = 'moved' | 'alreadyActive' | 'gone' | { failed: string };

/** Moves one record to the active version, following concurrent writes by ETag. */
function moveRecord(ring: EncryptionKeyring, listed: StoredRecoveryKey, onRetry: () => void): Promise<Outcome> {
  let record: StoredRecoveryKey | undefined = listed;
  return retryLostRaces<Outcome>(
    MAX_RESEAL_ATTEMPTS,
    async (attempt) => {
      if (record === undefined) return 'gone';
      // Also after a lost race: the concurrent writer sealed it under the active version itself.
      if (record.sealed.keyVersion === ring.active) return 'alreadyActive';
      let password: string;
      try {
        password = open(ring, record.id, record.sealed);
      } catch (error) {
        if (error instanceof DecryptionError) return { failed: error.message };
        throw error;
      }
      const current: StoredRecoveryKey = record;
      try {
        await withStorage(() => resealKey(current, seal(ring, current.id, password)));
        return 'moved';
      } catch (error) {
        if (isStorageError(error, 'gone')) return 'gone';
        if (!isStorageError(error, 'versionMoved')) throw error;
        // Changed since our read: read it again and look.
        if (attempt === 1) onRetry();
        record = await withStorage(() => getSameRow(current));
        return new LostRace(error);
      }
    },
    () => ({ failed: `it kept changing under concurrent writes (${MAX_RESEAL_ATTEMPTS} tries); rerun to move it` }),
  );
}

export async function reencryptAll(options: ReencryptOptions = {}): Promise<ReencryptResult> {
  const ring = keyring();
  await withStorage(() => recordCommandRun(systemSource('npm run reencrypt'), `npm run reencrypt to ${ring.active}`));
  const pageSize = options.pageSize ?? DEFAULT_PAGE_SIZE;
  const progressEveryMs = options.progressEveryMs ?? DEFAULT_PROGRESS_EVERY_MS;
  const progress = options.progress ?? ((line: string) => process.stderr.write(`${line}\n`));
  const result: ReencryptResult = { activeVersion: ring.active, scanned: 0, moved: 0, alreadyActive: 0, gone: 0, retried: 0, failed: [] };

  let lastProgress = Date.now();
  const report = (): void => {
    if (Date.now() - lastProgress < progressEveryMs) return;
    lastProgress = Date.now();
    progress(`reencrypt: ${result.scanned} scanned, ${result.moved} moved to ${ring.active}, ${result.failed.length} failed`);
  };

  let continuation: string | undefined;
  do {
    const page = await withStorage(() => listKeys(pageSize, continuation));
    await forEachLimit(page.items, CONCURRENCY, async (listed) => {
      const outcome = await moveRecord(ring, listed, () => result.retried++);
      result.scanned++;
      if (typeof outcome === 'object') result.failed.push({ id: listed.id, reason: outcome.failed });
      else result[outcome]++;
      report();
    });
    continuation = page.continuation;
  } while (continuation !== undefined);
  return result;
}

async function main(): Promise<number> {
  const options: ReencryptOptions = parseCommandLine(COMMAND, ({ values }) => ({
    // Azure Table storage answers at most 1000 entities a page.
    pageSize: Math.min(1000, wholeNumber(values['page-size'], '--page-size', DEFAULT_PAGE_SIZE, 1)),
    progressEveryMs: wholeNumber(values['progress-every'], '--progress-every', DEFAULT_PROGRESS_EVERY_MS, 0),
  }));

  let ring: EncryptionKeyring;
  try {
    // A missing or malformed key setting stops here; its message names the setting, never a key.
    ring = keyring();
  } catch (error) {
    process.stderr.write(`reencrypt: ${describeError(error)}\n`);
    return 2;
  }
  process.stderr.write(`reencrypt: moving every record to key version ${ring.active} (configured: ${[...ring.keys.keys()].join(', ')})\n`);

  let result: ReencryptResult;
  try {
    result = await reencryptAll(options);
  } catch (error) {
    process.stderr.write(`reencrypt: stopped: ${describeError(error)}. Records moved so far stay moved; rerun to continue.\n`);
    return 2;
  }

  for (const { id, reason } of result.failed) {
    process.stderr.write(`reencrypt: record ${id} cannot be decrypted and stays as it is: ${reason}\n`);
  }
  const details = [
    `${result.scanned} scanned`,
    `${result.moved} moved to ${result.activeVersion}`,
    `${result.alreadyActive} already on ${result.activeVersion}`,
    `${result.gone} deleted meanwhile`,
    `${result.retried} re-read after a concurrent write`,
    `${result.failed.length} failed`,
  ];
  process.stdout.write(`reencrypt: done: ${details.join(', ')}\n`);
  if (result.failed.length > 0) {
    process.stderr.write(
      `reencrypt: ${result.failed.length} record(s) could not be decrypted with the configured keys: ${result.failed.map((f) => f.id).join(', ')}\n`,
    );
    return 1;
  }
  return 0;
}

if (require.main === module) runCommand(COMMAND.tool, main);
