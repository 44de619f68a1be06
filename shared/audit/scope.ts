import type { HttpRequest } from '@azure/functions';
import type { Caller } from '../auth/caller';
import type { RequestContext } from '../http/requestContext';
import { normalizeGuid } from '../text/normalizeGuid';
import type { Activity, AuditSource } from './model';
import { type AuditTarget, auditFailure, auditSourceOf } from './recorder';

/**
 * The audit scope of one operation on one key: who asks (`source`, what every event of the operation
 * records about the caller and the request), what they do (`activity`), and the key it is about. An
 * operation opens it once the caller is authenticated, names the key with `target` as soon as it knows
 * it, and passes every error of its work through `recordFailure` before throwing it, so that a refusal
 * or a failure is in the trail before its answer goes out. Successes are recorded by the use case,
 * with the write they belong to (shared/recoveryKeys/service.ts). Unauthenticated requests (401) are
 * never audited: they carry no identity, and anyone could flood the trail with them; they are in the log.
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
   * Records `error` as this operation's refusal or failure (shared/audit/recorder.ts auditFailure) and
   * returns it, to be thrown: `throw await audit.recordFailure(error)`. If the record cannot be
   * written, what comes back is the audit trail's 503 instead.
   */
  recordFailure(error: unknown): Promise<unknown> {
    return auditFailure(this.source, this.activity, error, this.about);
  }
}

/** Opens the audit scope of an authenticated caller's `activity`; the key is the route's `{id}` until the operation names another. */
export function openAudit(request: HttpRequest, requestContext: RequestContext, caller: Caller, activity: Activity): AuditScope {
  return new AuditScope(auditSourceOf(request, requestContext, caller), activity, { keyId: normalizeGuid(request.params.id ?? '') });
}
