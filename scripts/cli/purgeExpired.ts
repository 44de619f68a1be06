import { settings } from '../../shared/config';
import { describeError } from '../../shared/errors/describeError';
import { purgeExpiredKeys, type PurgeExpiredResult, retentionCutoff, systemSource } from '../../shared/recoveryKeys/deletedKeys';
import { parseCommandLine, runCommand, UsageError } from './commandLine';

// `npm run purge-expired`: the purge job of the timer function (functions/purgeExpired.ts), on demand.
// Purges every deleted key whose DELETED_KEY_RETENTION_DAYS ended, each ETag-guarded (a key restored
// meanwhile is left alone) and audited as 'Purge BitLocker key'. Settings are the service's own
// (STORAGE_CONNECTION_STRING, DELETED_KEY_RETENTION_DAYS). `--now` runs it as of another instant
// (ISO 8601), to see what a later run would purge or to test retention without waiting for it.
// On the way it adds to the deleted keys' index (DeletedRecoveryKeys) every deleted key it lacks: after an
// upgrade from a version without that index, one run lists the keys deleted before it.
// Prints one summary line on stdout; ids of failures on stderr; never a key.
// Exit code: 0 done; 1 some keys could not be purged (named); 2 the run could not complete (rerun).

const COMMAND = {
  tool: 'purge-expired',
  usage: 'usage: npm run purge-expired [-- --now 2026-12-01T00:00:00Z]',
  options: { now: { type: 'string' } },
} as const;

/** Runs the job as of `now`, audited as the script. */
export async function runPurgeExpired(now: Date): Promise<PurgeExpiredResult> {
  return purgeExpiredKeys(now, systemSource('npm run purge-expired'));
}

async function main(): Promise<number> {
  const now = parseCommandLine(COMMAND, ({ values }) => {
    const at = values.now === undefined ? new Date() : new Date(values.now);
    if (Number.isNaN(at.getTime())) throw new UsageError(`--now takes an ISO 8601 date and time, not '${values.now}'`);
    return at;
  });
  let result: PurgeExpiredResult;
  try {
    const days = settings().deletedKeyRetentionDays;
    process.stderr.write(
      `purge-expired: purging keys deleted at or before ${retentionCutoff(now)} (${days} days before ${now.toISOString()})\n`,
    );
    result = await runPurgeExpired(now);
  } catch (error) {
    process.stderr.write(`purge-expired: stopped: ${describeError(error)}. Keys purged so far stay purged; rerun to continue.\n`);
    return 2;
  }
  for (const { id, reason } of result.failed) process.stderr.write(`purge-expired: key ${id} was not purged: ${reason}\n`);
  process.stdout.write(
    `purge-expired: done: ${result.expired} past retention, ${result.purged} purged, ${result.skipped} changed meanwhile, ` +
      `${result.failed.length} failed; ${result.indexed} deleted keys added to their index\n`,
  );
  return result.failed.length > 0 ? 1 : 0;
}

if (require.main === module) runCommand(COMMAND.tool, main);
