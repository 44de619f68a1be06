import type { RequestContext } from '../http/requestContext';
import type { JsonObject } from '../http/responses';
import type { DeviceStatus } from './model';

export const DEVICE_STATUS_CONTEXT = 'informationProtection/bitlocker/deviceStatuses';

/** A device status as the API answers it, with its OData context. */
export function statusEntity(requestContext: RequestContext, status: DeviceStatus): JsonObject {
  return {
    '@odata.context': `${requestContext.serviceRoot}/$metadata#${DEVICE_STATUS_CONTEXT}/$entity`,
    deviceId: status.deviceId,
    lastReportedDateTime: status.lastReportedDateTime,
    ...(status.clientVersion !== undefined && { clientVersion: status.clientVersion }),
    volumes: status.volumes,
  };
}
