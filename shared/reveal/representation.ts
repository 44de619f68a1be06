import type { RequestContext } from '../http/requestContext';
import type { JsonObject } from '../http/responses';
import { revealNow } from './clock';
import type { OwnedDevice } from './directory';
import { type RevealGrant, type RevealRequest, statusAt } from './model';

// Reveal requests, grants and "my devices" as the API answers them. A request's status is what it is
// now: a pending or approved request past its expiration shows as expired.

const contextOf = (requestContext: RequestContext, what: string): string =>
  `${requestContext.serviceRoot}/$metadata#informationProtection/bitlocker/${what}`;

export function requestProperties(request: RevealRequest): JsonObject {
  return {
    id: request.id,
    keyId: request.keyId,
    deviceId: request.deviceId,
    status: statusAt(request, revealNow()),
    reason: request.reason,
    ticket: request.ticket ?? null,
    requestedBy: request.requestedBy,
    createdDateTime: request.createdDateTime,
    decidedBy: request.decidedBy ?? null,
    decidedDateTime: request.decidedDateTime ?? null,
    expirationDateTime: request.expirationDateTime,
  };
}

export const requestEntity = (requestContext: RequestContext, request: RevealRequest): JsonObject => ({
  '@odata.context': `${contextOf(requestContext, 'revealRequests')}/$entity`,
  ...requestProperties(request),
});

export const requestCollection = (requestContext: RequestContext, requests: readonly RevealRequest[]): JsonObject => ({
  '@odata.context': contextOf(requestContext, 'revealRequests'),
  value: requests.map(requestProperties),
});

export const grantEntity = (requestContext: RequestContext, grant: RevealGrant): JsonObject => ({
  '@odata.context': `${contextOf(requestContext, 'revealGrants')}/$entity`,
  id: grant.id,
  deviceGroupId: grant.deviceGroupId,
  granteeGroupId: grant.granteeGroupId,
  reason: grant.reason,
  ticket: grant.ticket ?? null,
  grantedBy: grant.grantedBy,
  createdDateTime: grant.createdDateTime,
  expirationDateTime: grant.expirationDateTime,
  status: new Date(grant.expirationDateTime) <= revealNow() ? 'expired' : 'active',
});

/** A device of a list (my devices, a grant's queue) with its live keys' metadata, never a password. */
export interface DeviceWithKeys extends OwnedDevice {
  recoveryKeys: { id: string; volumeType?: string; createdDateTime: string }[];
}

export const deviceCollection = (requestContext: RequestContext, what: string, devices: readonly DeviceWithKeys[]): JsonObject => ({
  '@odata.context': contextOf(requestContext, what),
  value: devices.map((device) => ({
    deviceId: device.deviceId,
    displayName: device.displayName ?? null,
    recoveryKeys: device.recoveryKeys,
  })),
});
