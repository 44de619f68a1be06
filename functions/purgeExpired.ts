import { app, type InvocationContext, type Timer } from '@azure/functions';
import { settings } from '../shared/config';
import { purgeExpiredKeys, systemSource } from '../shared/recoveryKeys/deletedKeys';

// Purges deleted keys past DELETED_KEY_RETENTION_DAYS on the PURGE_EXPIRED_SCHEDULE (NCRONTAB, UTC;
// daily by default). `npm run purge-expired` runs the same job on demand (scripts/cli/purgeExpired.ts).
// A missed run loses nothing: keys past their retention are already hidden from every read and
// restore, and the next run purges them. The local host does not run timers.

/** Runs one purge and logs its counts (ids only of failures; never a key). */
export async function purgeExpiredOnTimer(timer: Timer, context: InvocationContext): Promise<void> {
  const result = await purgeExpiredKeys(new Date(), systemSource('purge-expired timer'));
  const { expired, purged, skipped, failed, indexed } = result;
  const line = { event: 'purgeExpired', pastDue: timer.isPastDue, expired, purged, skipped, failed: failed.map((f) => f.id), indexed };
  if (failed.length > 0) context.warn(JSON.stringify(line));
  else context.log(JSON.stringify(line));
}

app.timer('purgeExpired', { schedule: settings().purgeExpiredSchedule, handler: purgeExpiredOnTimer });
