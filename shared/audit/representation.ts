import type { JsonObject } from '../http/responses';
import { boundedEvent } from './bounded';
import { ACTIVITIES, type AuditEvent, type RefusalCount } from './model';

export const LOGGED_BY = 'BitLocker key escrow';

/** A refusal summary's additionalDetails: the count, its breakdown and the span it covers. */
function refusalDetails(refusals: RefusalCount): [string, string][] {
  const tally = Object.entries(refusals.tally)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([what, count]) => `${what} × ${count}`)
    .join('; ');
  return [
    ['RefusedCount', String(refusals.count)],
    ['Refusals', tally],
    ['FirstRefusedDateTime', refusals.first.toISOString()],
    ['LastRefusedDateTime', refusals.last.toISOString()],
  ];
}

/** Graph's directoryAudit shape, as Entra ID records "Read BitLocker key". */
export function directoryAudit(stored: AuditEvent): JsonObject {
  // Rows written before client text was bounded are bounded as they are shown.
  const event = boundedEvent(stored);
  const { caller } = event.source;
  const activity = ACTIVITIES[event.activity];
  const details: { key: string; value: string }[] = [];
  const detail = (key: string, value: string | undefined): void => {
    if (value) details.push({ key, value });
  };
  detail('DeviceId', event.deviceId);
  detail('TenantId', caller.tid);
  detail('User-Agent', event.source.userAgent);
  detail('ocp-client-name', event.source.clientName);
  detail('ocp-client-version', event.source.clientVersion);
  detail('RevealReason', event.source.revealReason);
  detail('RevealTicket', event.source.revealTicket);
  for (const [key, value] of event.refusals ? refusalDetails(event.refusals) : []) detail(key, value);
  // A user signed in through an app (a delegated token, with scp) is the user, whether or not the
  // token names a upn; an app acting as itself is a service principal.
  const delegated = caller.delegated;
  return {
    id: event.id,
    category: 'KeyManagement',
    correlationId: event.source.requestId,
    result: event.result,
    resultReason: event.resultReason,
    activityDisplayName: activity.displayName,
    activityDateTime: event.at.toISOString(),
    loggedByService: LOGGED_BY,
    operationType: activity.operationType,
    initiatedBy: {
      user: delegated ? { id: caller.oid ?? null, userPrincipalName: caller.upn ?? null } : null,
      app: caller.appId ? { appId: caller.appId, displayName: null, servicePrincipalId: delegated ? null : (caller.oid ?? null) } : null,
    },
    targetResources: event.keyId ? [{ id: event.keyId, displayName: event.keyId, type: 'BitLockerKey' }] : [],
    additionalDetails: details,
  };
}
