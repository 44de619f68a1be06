import type { HttpRequest } from '@azure/functions';
import type { Caller } from '../auth/caller';
import { asGraphError } from '../errors/asGraphError';
import { GraphError } from '../errors/graphError';
import { headerText } from '../http/headerText';
import type { RequestContext } from '../http/requestContext';
import { REVEAL_REASON_HEADER, REVEAL_TICKET_HEADER } from '../revealReasons';
import { normalizeGuid } from '../text/normalizeGuid';
import { type Activity, type AuditSource, type AuditTarget, auditEvent } from './model';
import { recordWithinBudget } from './refusalBudget';

// Refusals and failures are audited here and only here: an operation's scope records its error
// (recordFailure), and the refusal budget (refusalBudget.ts) decides whether that is a record of its own
// or a count in the caller's minute summary. Successes are recorded by the use case, with the write they
// belong to (shared/recoveryKeys/service.ts).

export function auditSourceOf(request: HttpRequest, requestContext: RequestContext, caller: Caller): AuditSource {
  return {
    caller,
    requestId: requestContext.requestId,
    userAgent: headerText(request, 'user-agent'),
    clientName: headerText(request, 'ocp-client-name'),
    clientVersion: headerText(request, 'ocp-client-version'),
    // Recorded as sent, valid or not (bounded and escaped on the way into the record): a refused read shows what it claimed.
    revealReason: headerText(request, REVEAL_REASON_HEADER),
    revealTicket: headerText(request, REVEAL_TICKET_HEADER),
  };
}

/**
 * The audit scope of one operation on one key: who asks (`source`, what every event of the operation
 * records about the caller and the request), what they do (`activity`), and the key it is about. An
 * operation opens it once the caller is authenticated, names the key with `target` as soon as it knows
 * it, and passes every error of its work through `recordFailure` before throwing it, so that a refusal
 * or a failure is in the trail before its answer goes out. Unauthenticated requests (401) are never
 * audited: they carry no identity, and anyone could flood the trail with them; they are in the log.
 */
export class AuditScope {
  private about: AuditTarget;

  constructor(
    readonly source: AuditSource,
    readonly activity: Activity,
    about: AuditTarget,
  ) {
    this.about = about;
  }

  /** Names the key (and its device) that a failure recorded from now on is about; given properties replace earlier ones. */
  target(about: AuditTarget): void {
    this.about = { ...this.about, ...about };
  }

  /**
   * Records `error` as this operation's refusal or failure before it goes out (or, beyond a caller's
   * REFUSALS_RECORDED_PER_MINUTE, counts it into the minute's summary) and returns it, to be thrown:
   * `throw await audit.recordFailure(error)`. If the record cannot be written, what comes back is the
   * audit trail's 503 instead.
   */
  async recordFailure(error: unknown): Promise<unknown> {
    // Storage unavailable or throttling: the trail lives in that same storage, so trying to write there
    // would only double the client's wait for the same 503. Such failures are in the log with their request-id.
    // A 503 the service decided on (a required alert not delivered) is a refusal like any other.
    const answer = asGraphError(error);
    if (answer instanceof GraphError && answer.status === 503 && !answer.decided) return error;
    // An unexpected error's message stays out of the record, as it stays out of the response. A refusal
    // answered as if its key were absent is recorded as what it is.
    const refusal = answer instanceof GraphError ? (answer.auditedAs ?? answer) : undefined;
    const reason = refusal ? `${refusal.status} ${refusal.code}: ${refusal.message}` : '500 generalException';
    await recordWithinBudget(auditEvent(this.source, this.activity, 'failure', reason, this.about));
    return error;
  }
}

/** Opens the audit scope of an authenticated caller's `activity`; the key is the route's `{id}` until the operation names another. */
export function openAudit(request: HttpRequest, requestContext: RequestContext, caller: Caller, activity: Activity): AuditScope {
  return new AuditScope(auditSourceOf(request, requestContext, caller), activity, { keyId: normalizeGuid(request.params.id ?? '') });
}
