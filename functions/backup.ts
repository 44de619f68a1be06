import { app, type InvocationContext, type Timer } from '@azure/functions';
import { mergeAuditOutbox } from '../shared/audit/outbox';
import { runBackup } from '../shared/backup/backup';
import { settings } from '../shared/config';

// The backup timer (BACKUP_SCHEDULE, off unless set): merges the audit outbox, then writes one
// snapshot, as `npm run backup` does (scripts/cli/backup.ts). And, whenever a backup container is
// configured, the outbox merge every five minutes: key reads audited there while the tables' primary
// was down go into the audit table once it answers again (shared/audit/outbox.ts). The local host
// does not run timers.

/** Every five minutes: a listing of the outbox prefix when there is nothing to merge, which is the usual case. */
const OUTBOX_MERGE_SCHEDULE = '0 */5 * * * *';

export async function backupOnTimer(timer: Timer, context: InvocationContext): Promise<void> {
  const merged = await mergeAuditOutbox();
  const manifest = await runBackup();
  const counts = Object.fromEntries(
    Object.entries(manifest.tables).map(([table, t]) => [table, { entities: t.entities, copied: t.changed }]),
  );
  context.log(JSON.stringify({ event: 'backup', pastDue: timer.isPastDue, snapshot: manifest.name, kind: manifest.kind, merged, counts }));
}

export async function mergeOutboxOnTimer(_timer: Timer, context: InvocationContext): Promise<void> {
  const merged = await mergeAuditOutbox();
  if (merged > 0) context.log(JSON.stringify({ event: 'auditOutboxMerged', merged }));
}

const { backup, backupSchedule } = settings();
if (backup !== undefined) {
  app.timer('auditOutboxMerge', { schedule: OUTBOX_MERGE_SCHEDULE, handler: mergeOutboxOnTimer });
  if (backupSchedule !== undefined) app.timer('backup', { schedule: backupSchedule, handler: backupOnTimer });
}
