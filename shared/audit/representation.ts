import type { JsonObject } from '../http/responses';
import { withoutSecrets } from '../redact';
import { writeDateTimeOffset } from '../odata/dateTimeOffset';
import { boundedEvent } from './bounded';
import { ACTIVITIES, type AuditEvent, type ModifiedProperty, type RefusalCount } from './model';

export const LOGGED_BY = 'BitLocker key escrow';

/** A JSON-text value of a modified property as plain text (`"\"abc\""` gives `abc`). */
function plainValue(json: string | null): string | undefined {
  if (json === null) return undefined;
  try {
    const value: unknown = JSON.parse(json);
    return typeof value === 'string' ? value : json;
  } catch {
    return json;
  }
}

/** The device a key was moved away from, when the event moved it. */
const previousDeviceOf = (changes: readonly ModifiedProperty[]): string | undefined =>
  plainValue(changes.find((p) => p.displayName === 'deviceId')?.oldValue ?? null);

/** The key as Graph's targetResource, with what a write changed where it changed something. */
function targetResourcesOf(event: AuditEvent): JsonObject[] {
  // A device status is about the device, not a key.
  if (event.activity === 'status' && event.deviceId) return [{ id: event.deviceId, displayName: event.deviceId, type: 'Device' }];
  if (!event.keyId) return [];
  const target: JsonObject = { id: event.keyId, displayName: event.keyId, type: 'BitLockerKey' };
  if (event.modifiedProperties?.length) {
    target.modifiedProperties = event.modifiedProperties.map((p) => ({
      displayName: p.displayName,
      oldValue: p.oldValue === null ? null : withoutSecrets(p.oldValue),
      newValue: p.newValue === null ? null : withoutSecrets(p.newValue),
    }));
  }
  return [target];
}

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
  // A move names both devices where a reader of the trail looks first, besides modifiedProperties.
  detail('PreviousDeviceId', previousDeviceOf(event.modifiedProperties ?? []));
  // The password cannot change under its key id (a different one is refused), so every update that
  // happened left it as it was; saying so answers the first question about any key change.
  if (event.activity === 'update' && event.result === 'success') detail('Key', 'key unchanged');
  detail('TenantId', caller.tid);
  detail('InitiatedByDeviceId', caller.device?.deviceId);
  detail('DeviceCertificateThumbprint', caller.device?.thumbprint);
  detail('User-Agent', event.source.userAgent);
  detail('ocp-client-name', event.source.clientName);
  detail('ocp-client-version', event.source.clientVersion);
  detail('RevealReason', event.source.revealReason);
  detail('RevealTicket', event.source.revealTicket);
  detail('Source', event.source.importedFrom);
  const reveal = event.source.reveal;
  detail('RevealBasis', reveal?.basis);
  detail('ApprovalId', reveal?.approvalId);
  detail('GrantId', reveal?.grantId);
  detail('ScopeRule', reveal?.scopeRule === undefined ? undefined : String(reveal.scopeRule));
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
    activityDateTime: writeDateTimeOffset(event.at),
    loggedByService: LOGGED_BY,
    operationType: activity.operationType,
    initiatedBy: {
      user: delegated ? { id: caller.oid ?? null, userPrincipalName: caller.upn ?? null } : null,
      app: caller.appId ? { appId: caller.appId, displayName: null, servicePrincipalId: delegated ? null : (caller.oid ?? null) } : null,
    },
    targetResources: targetResourcesOf(event),
    additionalDetails: details,
  };
}
