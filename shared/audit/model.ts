import { randomUUID } from 'node:crypto';
import type { Caller } from '../auth/caller';

export const ACTIVITIES = {
  add: { displayName: 'Add BitLocker key', operationType: 'Add' },
  update: { displayName: 'Update BitLocker key', operationType: 'Update' },
  delete: { displayName: 'Delete BitLocker key', operationType: 'Delete' },
  read: { displayName: 'Read BitLocker key', operationType: 'Read' },
  /** One caller's refusals of one minute beyond the first REFUSALS_RECORDED_PER_MINUTE, counted in one record (shared/audit/refusalBudget.ts). */
  refusals: { displayName: 'Refused BitLocker key requests', operationType: 'Other' },
  restore: { displayName: 'Restore BitLocker key', operationType: 'Restore' },
  purge: { displayName: 'Purge BitLocker key', operationType: 'Purge' },
  /**
   * A device escrowed a key id whose record is another device's: a security event (a squat, or a disk
   * image cloned after BitLocker was enabled). Its key is stored as the device's own claim beside the other.
   */
  claim: { displayName: 'Claim BitLocker key id held by another device', operationType: 'Add' },
  /** A recovery password sent by a writer compared with the stored one (a no-op escrow, or a refused change). */
  compare: { displayName: 'Compare BitLocker key', operationType: 'Other' },
  /** One run of an administrative command (import, reencrypt, purge-expired, the Entra mirror): who or what ran it. */
  command: { displayName: 'Run BitLocker key administration command', operationType: 'Other' },
  /** A key brought in from elsewhere (Entra ID's own copy, an MBAM or manage-bde export), stored by the same use case as a PATCH. */
  import: { displayName: 'Import BitLocker key', operationType: 'Add' },
  /**
   * A key retired: its successor (escrowed with `@escrow.replaces`) is linked to it; the reason names both
   * key ids. The successor's own escrow is an 'add' (or 'update') whose reason names the key it replaces.
   */
  retire: { displayName: 'Retire BitLocker key', operationType: 'Update' },
  /** A device's BitLocker status, written by the device or a management tool (shared/deviceStatus/service.ts). */
  status: { displayName: 'Update BitLocker device status', operationType: 'Update' },
} as const;

export type Activity = keyof typeof ACTIVITIES;

export const ACTIVITY_NAMES: readonly string[] = Object.values(ACTIVITIES).map((a) => a.displayName);

/** Who asked and how, taken from the verified token and the request headers. Never a token or a key. */
export interface AuditSource {
  caller: Caller;
  requestId: string;
  userAgent?: string;
  clientName?: string;
  clientVersion?: string;
  /** X-Reveal-Reason of a key read, as sent (checked by shared/recoveryKeys/revealReason.ts). */
  revealReason?: string;
  /** X-Reveal-Ticket of a key read, as sent. */
  revealTicket?: string;
  /** Set for the adoption tools: where the keys they store come from (additionalDetails 'Source'); their writes are audited as 'import'. */
  importedFrom?: ImportOrigin;
}

/** What a refusal summary counts: refusals of one caller in one minute that were not recorded one by one. */
export interface RefusalCount {
  count: number;
  /** Refusals by activity and status, e.g. `{"Read BitLocker key: 403 authorization_error": 4990}`. */
  tally: Record<string, number>;
  first: Date;
  last: Date;
}

/** Two counts of the same caller and minute as one. */
export function sumRefusals(a: RefusalCount, b: RefusalCount): RefusalCount {
  const tally = { ...a.tally };
  for (const [what, count] of Object.entries(b.tally)) tally[what] = (tally[what] ?? 0) + count;
  return { count: a.count + b.count, tally, first: a.first < b.first ? a.first : b.first, last: a.last > b.last ? a.last : b.last };
}

/**
 * One changed property of an audited write, in Graph's modifiedProperty shape (directoryAudit
 * targetResources[].modifiedProperties): values are JSON text, as Entra ID writes them (`"\"fixedDataVolume\""`),
 * and `oldValue` is null for a property an add sets. Never a recovery password: the password cannot
 * change under its key id, and an add records that a password was escrowed, not which.
 */
export interface ModifiedProperty {
  displayName: string;
  oldValue: string | null;
  newValue: string | null;
}

/** Entra ID's copy of the keys (the mirror) or an exported file (the importer). */
export type ImportOrigin = 'entra' | 'file';

/** One audited event, as the service builds it before it is stored. */
export interface AuditEvent {
  id: string;
  activity: Activity;
  at: Date;
  result: 'success' | 'failure';
  resultReason: string;
  keyId?: string;
  deviceId?: string;
  /** What a successful add or update changed; absent or empty when nothing did (reads, refusals, no-op writes). */
  modifiedProperties?: ModifiedProperty[];
  source: AuditSource;
  /** Present on a refusal summary (activity 'refusals'): what it counts. */
  refusals?: RefusalCount;
}

/** The key an event is about (Graph's targetResources[0]) and, for a write, what it changed there. */
export interface AuditTarget {
  keyId?: string;
  deviceId?: string;
  modifiedProperties?: ModifiedProperty[];
}

export function auditEvent(
  source: AuditSource,
  activity: Activity,
  result: AuditEvent['result'],
  resultReason: string,
  target: AuditTarget = {},
): AuditEvent {
  return { id: randomUUID(), at: new Date(), source, activity, result, resultReason, ...target };
}
