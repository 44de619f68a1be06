import type { Caller } from '../auth/caller';

export const ACTIVITIES = {
  add: { displayName: 'Add BitLocker key', operationType: 'Add' },
  update: { displayName: 'Update BitLocker key', operationType: 'Update' },
  delete: { displayName: 'Delete BitLocker key', operationType: 'Delete' },
  read: { displayName: 'Read BitLocker key', operationType: 'Read' },
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
}
