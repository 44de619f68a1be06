import type { HttpRequest } from '@azure/functions';
import type { AuditSource } from '../audit/model';
import type { Caller } from '../auth/caller';
import type { GraphError } from '../errors/graphError';
import type { StoredRecoveryKey } from '../recoveryKeys/model';
import { alertOnReveal, limitRevealsPerHour } from '../alerts/revealChecks';
import { checkRevealPolicy } from './policy';

/** What a reveal check may look at: who asks, for which stored key (its metadata; the password still sealed), how. */
export interface RevealAttempt {
  caller: Caller;
  key: StoredRecoveryKey;
  request: HttpRequest;
  /** The read's audit source: a check names there what let the read through (`reveal`), for its record. */
  source: AuditSource;
  /** The answer this read gets when there is no such key: a key the caller may not see is answered the same. */
  absent: () => GraphError;
}

/** One rule a reveal must pass: it returns to allow, and throws a GraphError to refuse. */
export type RevealCheck = (attempt: RevealAttempt) => Promise<void>;

// The checks run in this order after the key is read and before its password is opened or its read
// audited: a refused reveal leaves no "read" record and no disclosure mark, only the refusal the
// operation's audit scope records.
// Policy first (a read it refuses is no reveal to count or alert on), then the hourly count, then the alert.
const checks: readonly RevealCheck[] = [checkRevealPolicy, limitRevealsPerHour, alertOnReveal];

/** Runs every reveal rule against one attempt; the first refusal wins. */
export async function permitReveal(attempt: RevealAttempt): Promise<void> {
  for (const check of checks) await check(attempt);
}
