import { runBackup } from '../../shared/backup/backup';
import { describeError } from '../../shared/errors/describeError';
import { parseCommandLine, runCommand } from './commandLine';

// `npm run backup`: one snapshot of every table (records as stored, still sealed; the device index;
// the audit trail; every other table of shared/storage/layout.ts) to BACKUP_CONTAINER in the account
// of BACKUP_BLOB_ENDPOINT (managed identity, or your `az login`: Storage Blob Data Contributor) or
// BACKUP_CONNECTION_STRING (Azurite). Incremental on the newest snapshot unless `--full` (or the
// chain is long: shared/backup/backup.ts). The tables are read with the service's own settings.
// Progress on stderr; the snapshot's name alone on the last line of stdout, for `npm run restore`.
// Exit code: 0 written; 2 not written (bad settings, storage unavailable): rerun.

const COMMAND = { tool: 'backup', usage: 'usage: npm run backup [-- --full]', options: { full: { type: 'boolean' } } } as const;

async function main(): Promise<number> {
  const full = parseCommandLine(COMMAND, ({ values }) => values.full === true);
  try {
    const { mergeAuditOutbox } = await import('../../shared/audit/outbox');
    const merged = await mergeAuditOutbox();
    if (merged > 0) process.stderr.write(`backup: merged ${merged} audit records from the outbox into the audit trail\n`);
    const manifest = await runBackup({ full, progress: (line) => process.stderr.write(`backup: ${line}\n`) });
    process.stdout.write(`${manifest.name}\n`);
    return 0;
  } catch (error) {
    process.stderr.write(`backup: stopped: ${describeError(error)}. No snapshot was written; rerun.\n`);
    return 2;
  }
}

if (require.main === module) runCommand(COMMAND.tool, main);
