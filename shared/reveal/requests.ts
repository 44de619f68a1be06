import { randomUUID } from 'node:crypto';
import { alertApprovalRequested } from '../alerts/events';
import { writeAuditEntry } from '../audit/store';
import { auditEvent, type AuditSource } from '../audit/model';
import { callerKey, canonicalId, type Caller } from '../auth/caller';
import { isAllowed } from '../auth/permissions';
import { settings } from '../config';
import { conflict, forbidden, notFound } from '../errors/graphError';
import { keyNotFound } from '../recoveryKeys/notFound';
import { getRecoveryKey } from '../recoveryKeys/service';
import { isStorageError } from '../storage/storageError';
import { revealNow } from './clock';
import { holderVisibility } from './holders';
import { type Person, type RevealRequest, type RevealRequestInput, statusAt } from './model';
import { insertRequest, queryRequests, readRequest, replaceRequest } from './requestStore';
import { authorizeScope, isScoped, requireScopeRule } from './scopes';

// Two-person approval of a key read: a reader asks (pending), an approver who is not the requester
// approves or denies, and an approval lets its requester read that one key for REVEAL_APPROVAL_HOURS.
// A pending request not decided within those hours lapses. Every transition is audited; a request is
// only ever found under its caller's tenant.

/** Requests one list answers at most (a tenant's pending ones are a queue, not an archive). */
export const MAX_LISTED_REQUESTS = 200;

export const tenantOf = (caller: Caller): string => canonicalId(caller.tid ?? '-').toLowerCase();

export const personOf = (caller: Caller): Person => ({
  id: canonicalId(caller.oid ?? caller.appId ?? 'unknown'),
  ...(caller.upn !== undefined && { userPrincipalName: caller.upn }),
});

const hoursFrom = (at: Date, hours: number): string => new Date(at.getTime() + hours * 3_600_000).toISOString();

const requestNotFound = (id: string): Error => notFound(`No reveal request '${id}' was found.`);

/** POST revealRequests: a pending request for a key the caller may read (in their scope); audited. */
export async function createRevealRequest(caller: Caller, input: RevealRequestInput, source: AuditSource): Promise<RevealRequest> {
  // A request for a device outside the caller's scope could never be used: refused as a read would be,
  // a key outside it answered as a missing one.
  if (isScoped(caller)) await requireScopeRule(caller);
  const key = await getRecoveryKey(input.keyId, undefined, holderVisibility(caller, 'reveal'));
  if (isScoped(caller)) await authorizeScope(caller, key.deviceId, () => keyNotFound(input.keyId));
  const now = revealNow();
  const request: Omit<RevealRequest, 'etag'> = {
    id: randomUUID(),
    tenantId: tenantOf(caller),
    keyId: key.id,
    deviceId: key.deviceId,
    requestedBy: personOf(caller),
    requesterKey: callerKey(caller),
    reason: input.reason,
    ...(input.ticket !== undefined && { ticket: input.ticket }),
    status: 'pending',
    createdDateTime: now.toISOString(),
    expirationDateTime: hoursFrom(now, settings().revealApprovalHours),
  };
  // Recorded first: a request is never pending without its record.
  await writeAuditEntry(
    auditEvent(
      { ...source, revealReason: input.reason, revealTicket: input.ticket, reveal: { approvalId: request.id } },
      'revealRequest',
      'success',
      'pending',
      { keyId: key.id, deviceId: key.deviceId },
    ),
  );
  const stored = await insertRequest(request);
  await alertApprovalRequested({
    requester: caller,
    revealRequestId: stored.id,
    keyId: stored.keyId,
    deviceId: stored.deviceId,
    reason: stored.reason,
    ticket: stored.ticket,
  });
  return stored;
}

/** A request of the caller's tenant that the caller may see: their own, or any one for an approver. */
export async function getRevealRequest(caller: Caller, id: string): Promise<RevealRequest> {
  const request = await readRequest(tenantOf(caller), id);
  if (!request || (!isAllowed(caller, 'decideReveal') && request.requesterKey !== callerKey(caller))) throw requestNotFound(id);
  return request;
}

/** The pending requests an approver may decide, or a reader's own requests (any status). */
export function listRevealRequests(caller: Caller): Promise<RevealRequest[]> {
  return isAllowed(caller, 'decideReveal')
    ? queryRequests(tenantOf(caller), { status: 'pending' }, MAX_LISTED_REQUESTS)
    : queryRequests(tenantOf(caller), { requesterKey: callerKey(caller) }, MAX_LISTED_REQUESTS);
}

/**
 * POST revealRequests/{id}/approve or /deny: 403 for the requester, 409 for a request already decided
 * or lapsed (the second of two concurrent decisions included). The decision is recorded after it is
 * stored and taken back if the record cannot be written: no decision stands unaudited.
 */
export async function decideRevealRequest(
  caller: Caller,
  id: string,
  decision: 'approved' | 'denied',
  source: AuditSource,
  /** Told the request's key once it is found, so that a refusal is recorded against that key. */
  found: (target: { keyId: string; deviceId: string }) => void = () => undefined,
): Promise<RevealRequest> {
  const request = await readRequest(tenantOf(caller), id);
  if (!request) throw requestNotFound(id);
  found({ keyId: request.keyId, deviceId: request.deviceId });
  if (request.requesterKey === callerKey(caller)) {
    throw forbidden('You cannot approve or deny your own reveal request: another holder of BitLockerKey.Approve.All must decide it.');
  }
  const now = revealNow();
  const status = statusAt(request, now);
  if (status !== 'pending') throw conflict(`The reveal request is already ${status}; it can no longer be approved or denied.`);
  let decided: RevealRequest;
  try {
    decided = await replaceRequest({
      ...request,
      status: decision,
      decidedBy: personOf(caller),
      decidedDateTime: now.toISOString(),
      expirationDateTime: decision === 'approved' ? hoursFrom(now, settings().revealApprovalHours) : request.expirationDateTime,
    });
  } catch (error) {
    if (!isStorageError(error, 'versionMoved')) throw error;
    const current = await readRequest(request.tenantId, id);
    throw conflict(
      `The reveal request is already ${current ? statusAt(current, revealNow()) : 'gone'}; it can no longer be approved or denied.`,
    );
  }
  try {
    await writeAuditEntry(
      auditEvent({ ...source, reveal: { approvalId: id } }, 'revealDecision', 'success', decision, {
        keyId: request.keyId,
        deviceId: request.deviceId,
      }),
    );
  } catch (error) {
    await replaceRequest({ ...request, etag: decided.etag });
    throw error;
  }
  return decided;
}

/** The caller's approved, unexpired request for `keyId`, or undefined. */
export async function activeApproval(caller: Caller, keyId: string): Promise<RevealRequest | undefined> {
  const approved = await queryRequests(
    tenantOf(caller),
    { status: 'approved', requesterKey: callerKey(caller), keyId },
    MAX_LISTED_REQUESTS,
  );
  const now = revealNow();
  return approved.find((request) => statusAt(request, now) === 'approved');
}
