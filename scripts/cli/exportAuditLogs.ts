import { EXPORT_LAG_MS, LogsExportError, runLogsExport } from '../../shared/audit/logsExport';
import { settings } from '../../shared/config';
import { describeError } from '../../shared/errors/describeError';
import { parseCommandLine, runCommand, UsageError, wholeNumber } from './commandLine';

// The audit export to Log Analytics of the timer function (functions/auditLogsExport.ts), on demand:
// ships every audit event since the checkpoint to the data collection rule of AUDIT_LOGS_INGESTION_ENDPOINT
// and AUDIT_LOGS_RULE_ID, with DefaultAzureCredential, up to five minutes ago (EXPORT_LAG_MS; or `--lag`
// seconds ago: 0 ships what was just written, once nothing is being written). Prints one summary line on
// stdout, never an event.
// Exit code: 0 done (caught up, or stopped on its time budget: run again); 2 the run failed (rerun:
// it resumes at the checkpoint).

const COMMAND = {
  tool: 'export-audit-logs',
  usage: 'usage: npm run export-audit-logs -- [--lag <seconds>]',
  options: { lag: { type: 'string' } },
} as const;

async function main(): Promise<number> {
  const lagMs = parseCommandLine(COMMAND, ({ values }) => {
    const seconds = wholeNumber(values.lag, '--lag', EXPORT_LAG_MS / 1000, 0);
    if (settings().auditLogs === undefined) throw new UsageError('set AUDIT_LOGS_INGESTION_ENDPOINT and AUDIT_LOGS_RULE_ID first');
    return seconds * 1000;
  });
  try {
    const run = await runLogsExport({ lagMs });
    const note = run.checkpointMoved
      ? ' (its checkpoint was moved meanwhile: run again)'
      : run.caughtUp
        ? ''
        : ' (time budget reached: run again)';
    process.stdout.write(
      `export-audit-logs: ${run.exported} events in ${run.batches} uploads; exported through ${run.exportedThrough}${note}\n`,
    );
    return 0;
  } catch (error) {
    const through = error instanceof LogsExportError ? error.run.exportedThrough : undefined;
    process.stderr.write(
      `export-audit-logs: stopped: ${describeError(error)}. Exported through ${through ?? 'the checkpoint'}; rerun to continue.\n`,
    );
    return 2;
  }
}

if (require.main === module) runCommand(COMMAND.tool, main);
