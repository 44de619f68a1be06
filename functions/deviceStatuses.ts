import { app, type HttpRequest, type HttpResponseInit, type InvocationContext } from '@azure/functions';
import { openAudit } from '../shared/audit/scope';
import { authenticate, authorize } from '../shared/auth';
import { readJsonObject } from '../shared/http/body';
import { badRequest } from '../shared/errors/graphError';
import { graphHandler } from '../shared/http/handler';
import { ALL_METHODS, dispatchByMethod } from '../shared/http/methods';
import type { RequestContext } from '../shared/http/requestContext';
import { DEVICE_STATUS_ROUTES } from '../shared/http/routes';
import { jsonResponse } from '../shared/http/responses';
import { statusEntity } from '../shared/deviceStatus/representation';
import { parseDeviceStatus } from '../shared/deviceStatus/schema';
import { getDeviceStatus, putDeviceStatus, unreportedDevice } from '../shared/deviceStatus/service';
import { visibleDevices } from '../shared/reveal/scopes';
import { normalizeGuid } from '../shared/text/normalizeGuid';
import { escapeNonPrintableAscii } from '../shared/text/quoteClientText';

/** The route's `{deviceId}`, normalized; 400 if it is not a GUID. */
function deviceIdOf(request: HttpRequest): string {
  const segment = request.params.deviceId ?? '';
  const deviceId = normalizeGuid(segment);
  if (!deviceId)
    throw badRequest(`'${escapeNonPrintableAscii(segment.slice(0, 64))}' is not a valid device id: use the Entra device id (a GUID).`);
  return deviceId;
}

/**
 * GET {route}/{deviceId}: the device's last status (BitLockerKey.ReadBasic.All and up). A device that
 * never reported, and for a scoped user (REVEAL_SCOPES) a device outside their scope, answer the same:
 * the device id and no volumes, so the answer neither names its key ids nor tells it exists. 503 when
 * Graph cannot say whether the device is in scope.
 */
export async function getStatus(
  request: HttpRequest,
  requestContext: RequestContext,
  context: InvocationContext,
): Promise<HttpResponseInit> {
  const caller = await authenticate(request, requestContext, context);
  authorize(caller, 'readDeviceStatus');
  const deviceId = deviceIdOf(request);
  const visible = await visibleDevices(caller);
  const status = visible && !(await visible(deviceId)) ? unreportedDevice(deviceId) : await getDeviceStatus(deviceId);
  return jsonResponse(requestContext, 200, statusEntity(requestContext, status));
}

/**
 * PUT {route}/{deviceId}: replaces the device's status (the device itself, or BitLockerKey.ReadWrite.All).
 * Audited, allowed or refused; stored whole or not at all.
 */
export async function putStatus(
  request: HttpRequest,
  requestContext: RequestContext,
  context: InvocationContext,
): Promise<HttpResponseInit> {
  const caller = await authenticate(request, requestContext, context);
  const audit = openAudit(request, requestContext, caller, 'status');
  try {
    authorize(caller, 'writeDeviceStatus');
    const deviceId = deviceIdOf(request);
    audit.target({ deviceId });
    const input = parseDeviceStatus(await readJsonObject(request));
    const status = await putDeviceStatus(deviceId, input, audit.source);
    return jsonResponse(requestContext, 200, statusEntity(requestContext, status));
  } catch (error) {
    throw await audit.recordFailure(error);
  }
}

export const deviceStatusHandler = graphHandler(dispatchByMethod({ GET: getStatus, PUT: putStatus }));

for (const route of DEVICE_STATUS_ROUTES) {
  const name = `deviceStatuses-${route.replace(/[^A-Za-z0-9]+/g, '-')}`;
  app.http(name, { methods: ALL_METHODS, authLevel: 'anonymous', route: `${route}/{deviceId}`, handler: deviceStatusHandler });
}
