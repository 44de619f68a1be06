import { app, type InvocationContext, type Timer } from '@azure/functions';
import { LogsExportError, runLogsExport } from '../shared/audit/logsExport';
import { settings } from '../shared/config';
import { describeError } from '../shared/errors/describeError';

// The audit trail's export to Log Analytics (shared/audit/logsExport.ts) on AUDIT_LOGS_SCHEDULE (every
// five minutes by default), registered only when AUDIT_LOGS_INGESTION_ENDPOINT and AUDIT_LOGS_RULE_ID
// are set. A run ships every event since the checkpoint; a failed one logs `auditLogsExportFailed`
// (the line docs/alerts.md has operators alert on) and the next run retries from the checkpoint. The
// local host does not run timers.

export async function auditLogsExportOnTimer(timer: Timer, context: InvocationContext): Promise<void> {
  try {
    const run = await runLogsExport();
    context.log(JSON.stringify({ event: 'auditLogsExport', pastDue: timer.isPastDue, ...run }));
  } catch (error) {
    const run = error instanceof LogsExportError ? error.run : undefined;
    context.error(JSON.stringify({ event: 'auditLogsExportFailed', reason: describeError(error), ...run }));
    throw error;
  }
}

const { auditLogs } = settings();
if (auditLogs !== undefined) app.timer('auditLogsExport', { schedule: auditLogs.schedule, handler: auditLogsExportOnTimer });
