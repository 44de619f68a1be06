import { type Activity, type AuditSource, auditEvent, type ModifiedProperty } from '../audit/model';
import type { KeyMetadata } from './model';

// The adoption tools (scripts/cli/import.ts, the Entra mirror) write through the same use cases as a PATCH;
// their additions and changes are audited as 'Import BitLocker key', with where the key came from.
const writeActivity = (source: AuditSource, activity: Activity): Activity =>
  source.importedFrom !== undefined && (activity === 'add' || activity === 'update') ? 'import' : activity;

/** The audit event of an operation on `key` that succeeded: what the trail records with the write (or, for a key read, before the key leaves). */
export const successEvent = (
  source: AuditSource,
  activity: Activity,
  key: Pick<KeyMetadata, 'id'> & { deviceId?: string },
  reason = '',
  changes?: ModifiedProperty[],
) =>
  auditEvent(source, writeActivity(source, activity), 'success', reason, {
    keyId: key.id,
    deviceId: key.deviceId,
    modifiedProperties: changes,
  });
