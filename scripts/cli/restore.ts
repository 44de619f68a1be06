import { restoreSnapshot, TargetNotEmpty } from '../../shared/backup/restore';
import { SnapshotRefused } from '../../shared/backup/snapshot';
import { describeError } from '../../shared/errors/describeError';
import { parseCommandLine, runCommand, UsageError } from './commandLine';

// `npm run restore -- <snapshot name> [--force]`: restores a snapshot written by `npm run backup` (and
// the snapshots it builds on) into the tables the service is configured with (STORAGE_CONNECTION_STRING
// or STORAGE_TABLE_ENDPOINT), from BACKUP_CONTAINER. Every manifest and part is checked (SHA-256,
// length, count) before anything is written; tables that hold entities are refused unless --force
// (then what the snapshot does not hold is deleted); the result is compared entity by entity with the
// snapshot. Stop the service (or its writers) while restoring over a live account.
// Exit code: 0 restored and checked; 1 refused (snapshot damaged or missing, target not empty: nothing
// written); 2 stopped or the check failed: rerun with --force once the cause is fixed.

const COMMAND = {
  tool: 'restore',
  usage: 'usage: npm run restore -- <snapshot name> [--force]',
  options: { force: { type: 'boolean' } },
  allowPositionals: true,
} as const;

async function main(): Promise<number> {
  const { name, force } = parseCommandLine(COMMAND, ({ values, positionals }) => {
    if (positionals.length !== 1) throw new UsageError('name one snapshot (the last line `npm run backup` printed)');
    return { name: positionals[0], force: values.force === true };
  });
  try {
    const result = await restoreSnapshot(name, { force, progress: (line) => process.stderr.write(`restore: ${line}\n`) });
    const counts = Object.entries(result.tables).map(([table, n]) => `${table} ${n}`);
    process.stdout.write(`restore: restored ${name} and checked it: ${counts.join(', ')}\n`);
    return 0;
  } catch (error) {
    if (error instanceof SnapshotRefused || error instanceof TargetNotEmpty) {
      process.stderr.write(`restore: refused: ${describeError(error)}. Nothing was written.\n`);
      return 1;
    }
    process.stderr.write(`restore: stopped: ${describeError(error)}\n`);
    return 2;
  }
}

if (require.main === module) runCommand(COMMAND.tool, main);
