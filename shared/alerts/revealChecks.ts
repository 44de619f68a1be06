import { callerKey } from '../auth/caller';
import { isAllowed } from '../auth/permissions';
import { settings } from '../config';
import { tooManyRequests } from '../errors/graphError';
import { parseRevealHeaders } from '../recoveryKeys/revealReason';
import type { RevealAttempt, RevealCheck } from '../reveal/permit';
import { actorOf } from './actor';
import { deviceScopeOf } from './deviceScope';
import type { SecurityAlert, UnusualReason } from './message';
import { raiseAlert, raiseRevealAlert } from './raise';
import { countReveal, type RevealTally } from './revealCounts';

// Two reveal checks: the hourly limit per user (REVEAL_LIMIT_PER_HOUR), then the reveal's alert. The
// limit runs first so that a refused read raises the limit's alert, not a reveal's; the alert runs
// last so that it announces only a read every other rule allowed. The limit's count (this user's
// reads this hour, first ever, a new scope) is what makes a reveal unusual: it is handed to the alert
// by the attempt, which permitReveal passes to every check.

const tallies = new WeakMap<RevealAttempt, RevealTally>();

/** A ticket id is shown only when it looks like one: the webhook renders Markdown, and a ticket is client text. */
const TICKET = /^[A-Za-z0-9._-]{1,64}$/;

function revealDetails(attempt: RevealAttempt): Record<string, string> {
  const { reason, ticket } = parseRevealHeaders(attempt.request.headers, false);
  const details: Record<string, string> = {};
  if (reason !== undefined) details.Reason = reason.split(':')[0];
  if (ticket !== undefined && TICKET.test(ticket)) details.Ticket = ticket;
  return details;
}

const alertOf = (attempt: RevealAttempt, fields: Pick<SecurityAlert, 'kind' | 'title' | 'unusual'>): SecurityAlert => ({
  ...fields,
  at: new Date(),
  actor: actorOf(attempt.caller),
  keyId: attempt.key.id,
  deviceId: attempt.key.deviceId,
  details: revealDetails(attempt),
});

/**
 * REVEAL_LIMIT_PER_HOUR for users (delegated callers): their reads are counted in Table Storage across
 * instances; beyond the limit, 429 with Retry-After until the clock hour ends, audited by the read's
 * scope, and the first refusal of the hour raises an alert. App-only identities are automation an
 * administrator consented to (a migration reads thousands of keys): KEY_READ_LIMIT_PER_MINUTE and
 * the alerts still apply to them, this human-pace limit does not.
 */
export const limitRevealsPerHour: RevealCheck = async (attempt) => {
  const { caller } = attempt;
  if (!caller.delegated || caller.device) return;
  const limit = settings().revealLimitPerHour;
  const tally = await countReveal(callerKey(caller), new Date(), await deviceScopeOf(attempt), limit);
  tallies.set(attempt, tally);
  if (tally.count <= limit) return;
  if (tally.count === limit + 1) {
    await raiseAlert(
      alertOf(attempt, { kind: 'revealLimit', title: `Key read limit reached: ${limit} this hour; further reads refused`, unusual: [] }),
    );
  }
  throw tooManyRequests(
    `Too many recovery key reads this hour: this user may read ${limit} keys an hour. Try again after the hour ends.`,
    tally.secondsLeftInHour,
  );
};

function unusualReasons(attempt: RevealAttempt, tally: RevealTally | undefined): UnusualReason[] {
  const reasons: UnusualReason[] = [];
  if (tally?.first) reasons.push('firstReveal');
  if (tally !== undefined && tally.count > settings().alerts.unusualRevealsPerHour) reasons.push('manyReveals');
  if (tally?.newScope) reasons.push('outsideUsualScope');
  // A reader without BitLockerKey.Read.All was let through by the self-service rule.
  if (!attempt.caller.device && !isAllowed(attempt.caller, 'readKey')) reasons.push('selfService');
  return reasons;
}

/** The reveal's alert (ALERT_WEBHOOK_URL, ALERT_ON): with ALERT_FAIL_CLOSED, no alert, no reveal (503). */
export const alertOnReveal: RevealCheck = async (attempt) => {
  if (settings().alerts.webhookUrl === undefined) return;
  const unusual = unusualReasons(attempt, tallies.get(attempt));
  await raiseRevealAlert(alertOf(attempt, { kind: 'reveal', title: 'BitLocker recovery key revealed', unusual }));
};
