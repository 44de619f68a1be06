import { app, type InvocationContext, type Timer } from '@azure/functions';
import { runAuditRetention } from '../shared/audit/retention';
import { settings } from '../shared/config';

// Audit retention on AUDIT_RETENTION_SCHEDULE (NCRONTAB, UTC; daily by default): moves rows of the
// earlier AuditLog layout into the sharded one, then exports events older than AUDIT_RETENTION_DAYS to
// the backup container and deletes them (shared/audit/retention.ts). A run that stops is resumed by the
// next; without a backup container it only moves rows. The local host does not run timers.

export async function auditRetentionOnTimer(timer: Timer, context: InvocationContext): Promise<void> {
  const { moved, exported, deleted, blobs } = await runAuditRetention();
  context.log(JSON.stringify({ event: 'auditRetention', pastDue: timer.isPastDue, moved, exported, deleted, blobs: blobs.length }));
}

app.timer('auditRetention', { schedule: settings().auditRetentionSchedule, handler: auditRetentionOnTimer });
