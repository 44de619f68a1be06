import type { RequestContext } from '../http/requestContext';
import type { JsonObject } from '../http/responses';
import type { DeviceDescription } from './service';

export const DEVICE_STATUS_CONTEXT = 'informationProtection/bitlocker/deviceStatuses';

/** A device status as the API answers it, with its OData context. */
export function statusEntity(requestContext: RequestContext, status: DeviceDescription): JsonObject {
  return {
    '@odata.context': `${requestContext.serviceRoot}/$metadata#${DEVICE_STATUS_CONTEXT}/$entity`,
    deviceId: status.deviceId,
    ...(status.displayName !== undefined && { displayName: status.displayName }),
    ...(status.userPrincipalName !== undefined && { userPrincipalName: status.userPrincipalName }),
    ...(status.lastReportedDateTime !== undefined && { lastReportedDateTime: status.lastReportedDateTime }),
    ...(status.clientVersion !== undefined && { clientVersion: status.clientVersion }),
    volumes: status.volumes ?? [],
  };
}
