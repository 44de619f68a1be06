import type { HttpRequest } from '@azure/functions';
import type { Caller } from '../auth/caller';
import type { StoredRecoveryKey } from '../recoveryKeys/model';
import { alertOnReveal, limitRevealsPerHour } from '../alerts/revealChecks';

/** What a reveal check may look at: who asks, for which stored key (its metadata; the password still sealed), how. */
export interface RevealAttempt {
  caller: Caller;
  key: StoredRecoveryKey;
  request: HttpRequest;
}

/** One rule a reveal must pass: it returns to allow, and throws a GraphError to refuse. */
export type RevealCheck = (attempt: RevealAttempt) => Promise<void>;

// The checks run in this order after the key is read and before its password is opened or its read
// audited: a refused reveal leaves no "read" record and no disclosure mark, only the refusal the
// operation's audit scope records.
const checks: readonly RevealCheck[] = [limitRevealsPerHour, alertOnReveal];

/** Runs every reveal rule against one attempt; the first refusal wins. */
export async function permitReveal(attempt: RevealAttempt): Promise<void> {
  for (const check of checks) await check(attempt);
}
