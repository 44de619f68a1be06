import type { JsonObject } from '../http/responses';
import { ACTIVITIES, type AuditEvent } from './model';
import { withoutSecrets } from '../redact';

export const LOGGED_BY = 'BitLocker key escrow';

/** Graph's directoryAudit shape, as Entra ID records "Read BitLocker key". */
export function directoryAudit(event: AuditEvent): JsonObject {
  const { caller } = event.source;
  const activity = ACTIVITIES[event.activity];
  const details: { key: string; value: string }[] = [];
  const detail = (key: string, value: string | undefined): void => {
    if (value) details.push({ key, value: withoutSecrets(value) });
  };
  detail('DeviceId', event.deviceId);
  detail('TenantId', caller.tid);
  detail('InitiatedByDeviceId', caller.device?.deviceId);
  detail('DeviceCertificateThumbprint', caller.device?.thumbprint);
  detail('User-Agent', event.source.userAgent);
  detail('ocp-client-name', event.source.clientName);
  detail('ocp-client-version', event.source.clientVersion);
  detail('Source', event.source.importedFrom);
  const delegated = caller.upn !== undefined;
  return {
    id: event.id,
    category: 'KeyManagement',
    correlationId: event.source.requestId,
    result: event.result,
    resultReason: withoutSecrets(event.resultReason),
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
