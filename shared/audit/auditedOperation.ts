import type { HttpRequest, HttpResponseInit } from '@azure/functions';
import { authenticate, authorize, type Caller, type Operation } from '../auth';
import type { GraphOperation } from '../http/handler';
import type { RequestContext } from '../http/requestContext';
import { normalizeGuid } from '../text/normalizeGuid';
import type { Activity, AuditSource } from './model';
import { type AuditTarget, auditSourceOf, runAudited } from './recorder';

/**
 * Runs the work of an authenticated caller on the key named by the route's `{id}` under audit: a
 * refusal or failure is recorded before its error goes out. Unauthenticated requests (401) are not
 * audited: they carry no identity, and anyone could flood the trail with them; they are in the log.
 */
export function underAudit<T>(
  request: HttpRequest,
  rc: RequestContext,
  caller: Caller,
  activity: Activity,
  work: (source: AuditSource, target: AuditTarget) => Promise<T>,
): Promise<T> {
  const source = auditSourceOf(request, rc, caller);
  const target: AuditTarget = { keyId: normalizeGuid(request.params.id ?? '') };
  return runAudited(source, activity, target, () => work(source, target));
}

export type AuditedWork = (request: HttpRequest, rc: RequestContext, source: AuditSource, target: AuditTarget) => Promise<HttpResponseInit>;

/** An operation that changes a key: authenticated, audited, and allowed only with `permission` (a 403 is audited too). */
export const auditedOperation =
  (activity: Activity, permission: Operation, work: AuditedWork): GraphOperation =>
  async (request, rc, context) => {
    const caller = await authenticate(request, rc, context);
    return underAudit(request, rc, caller, activity, (source, target) => {
      authorize(caller, permission);
      return work(request, rc, source, target);
    });
  };
