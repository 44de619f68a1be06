import type { Caller } from '../auth/caller';

export const ACTIVITIES = {
  add: { displayName: 'Add BitLocker key', operationType: 'Add' },
  update: { displayName: 'Update BitLocker key', operationType: 'Update' },
  delete: { displayName: 'Delete BitLocker key', operationType: 'Delete' },
  read: { displayName: 'Read BitLocker key', operationType: 'Read' },
  /** A key brought in from elsewhere (Entra ID's own copy, an MBAM or manage-bde export), stored by the same use case as a PATCH. */
  import: { displayName: 'Import BitLocker key', operationType: 'Add' },
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
  /** Set for the adoption tools: where the keys they store come from (additionalDetails 'Source'); their writes are audited as 'import'. */
  importedFrom?: ImportOrigin;
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
  source: AuditSource;
}
