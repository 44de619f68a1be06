// Reveal requests (two-person approval of one key's read) and bulk grants (mass recovery of a device
// group's keys), as the use cases hold them.

export type RevealRequestStatus = 'pending' | 'approved' | 'denied' | 'expired';

/** Who asked or decided: the caller's object id (or app id) and, for a user, their name. */
export interface Person {
  id: string;
  userPrincipalName?: string;
}

export interface RevealRequest {
  /** Random (122 bits), and looked up only within its tenant's partition. */
  id: string;
  tenantId: string;
  keyId: string;
  deviceId: string;
  requestedBy: Person;
  /** callerKey of the requester: what the read compares with, and what may not decide. */
  requesterKey: string;
  reason: string;
  ticket?: string;
  /** As stored; `expired` is shown for a pending or approved request past its time (statusAt). */
  status: Exclude<RevealRequestStatus, 'expired'>;
  createdDateTime: string;
  decidedBy?: Person;
  decidedDateTime?: string;
  /** Until when an approved request lets its requester read the key; for a pending one, until when it may be decided. */
  expirationDateTime: string;
  etag: string;
}

export interface RevealRequestInput {
  keyId: string;
  reason: string;
  ticket?: string;
}

/** A time-boxed bulk reveal: members of `granteeGroupId` may read the keys of devices in `deviceGroupId`. */
export interface RevealGrant {
  id: string;
  tenantId: string;
  deviceGroupId: string;
  granteeGroupId: string;
  reason: string;
  ticket?: string;
  grantedBy: Person;
  createdDateTime: string;
  expirationDateTime: string;
}

export interface RevealGrantInput {
  deviceGroupId: string;
  granteeGroupId: string;
  reason: string;
  ticket?: string;
  /** At most REVEAL_APPROVAL_HOURS. */
  hours: number;
}

/** What a request is now: a pending or approved one past its expiration is `expired`. */
export const statusAt = (request: RevealRequest, now: Date): RevealRequestStatus =>
  request.status !== 'denied' && new Date(request.expirationDateTime) <= now ? 'expired' : request.status;
