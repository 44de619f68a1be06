import { hostname, userInfo } from 'node:os';
import type { AuditSource } from './model';
import { auditEvent } from './model';
import { writeAuditEntry } from './store';

// The administrative commands act on the keys with the storage's own credentials, outside any request;
// each run leaves a record of its own, before it changes anything, naming the command and who or what
// ran it, so the trail answers "who ran the re-encryption last night" without a key's records.

/** The local account that ran a command, as far as the OS says; undefined where it cannot (no passwd entry). */
export function localAccount(): string | undefined {
  try {
    return `${userInfo().username}@${hostname()}`;
  } catch {
    return undefined;
  }
}

/**
 * Records that `command` starts under `source` (its caller, when the command acts as an identity;
 * its user agent otherwise), and by `runBy` (a local account, or a timer), into the audit trail.
 */
export async function recordCommandRun(source: AuditSource, command: string, runBy = localAccount()): Promise<void> {
  const by = runBy ?? source.caller.appId ?? 'an unknown account';
  await writeAuditEntry(auditEvent(source, 'command', 'success', `Started: ${command}, run by ${by}.`));
}
