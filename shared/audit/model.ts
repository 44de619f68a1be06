import type { Caller } from '../auth/caller';

export const ACTIVITIES = {
  add: { displayName: 'Add BitLocker key', operationType: 'Add' },
  update: { displayName: 'Update BitLocker key', operationType: 'Update' },
  delete: { displayName: 'Delete BitLocker key', operationType: 'Delete' },
  read: { displayName: 'Read BitLocker key', operationType: 'Read' },
  /** One caller's refusals of one minute beyond the first REFUSALS_RECORDED_PER_MINUTE, counted in one record (shared/audit/refusals.ts). */
  refusals: { displayName: 'Refused BitLocker key requests', operationType: 'Other' },
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
  /** Present on a refusal summary (activity 'refusals'): what it counts. */
  refusals?: RefusalCount;
}
