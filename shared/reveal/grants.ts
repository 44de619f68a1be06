import { randomUUID } from 'node:crypto';
import { auditEvent, type AuditSource } from '../audit/model';
import { writeAuditEntry } from '../audit/store';
import { canonicalId, type Caller } from '../auth/caller';
import { isAllowed } from '../auth/permissions';
import { settings } from '../config';
import { badRequest, forbidden, notFound } from '../errors/graphError';
import { revealNow } from './clock';
import { revealDirectory, type OwnedDevice } from './directory';
import { insertGrant, liveGrants, readGrant } from './grantStore';
import { callerGroups } from './membership';
import type { RevealGrant, RevealGrantInput } from './model';
import { personOf, tenantOf } from './requests';

// Mass recovery: an approver grants the members of one group the reveal of the keys of one device
// group's devices for a few hours, recorded as one grant; each read under it is audited with the
// grant's id. The grant stands in for per-key approval only: REVEAL_SCOPES, the read limit and alerts
// still apply to every read.

/** POST revealGrants: a grant of at most REVEAL_APPROVAL_HOURS; audited. */
export async function createRevealGrant(caller: Caller, input: RevealGrantInput, source: AuditSource): Promise<RevealGrant> {
  const maxHours = settings().revealApprovalHours;
  if (input.hours > maxHours) throw badRequest(`hours must be at most ${maxHours} (REVEAL_APPROVAL_HOURS)`);
  // A grant to one's own group would be one person approving their own reads: two-person approval
  // needs the granter outside the grantees. Graph down is the directory's 503, never a grant.
  if ((await callerGroups(caller)).has(input.granteeGroupId)) {
    throw forbidden(
      'You cannot grant a reveal to a group you are a member of: another holder of BitLockerKey.Approve.All, outside that group, must grant it.',
    );
  }
  const now = revealNow();
  const grant: RevealGrant = {
    id: randomUUID(),
    tenantId: tenantOf(caller),
    deviceGroupId: input.deviceGroupId,
    granteeGroupId: input.granteeGroupId,
    reason: input.reason,
    ...(input.ticket !== undefined && { ticket: input.ticket }),
    grantedBy: personOf(caller),
    createdDateTime: now.toISOString(),
    expirationDateTime: new Date(now.getTime() + input.hours * 3_600_000).toISOString(),
  };
  await writeAuditEntry(
    auditEvent(
      { ...source, revealReason: input.reason, revealTicket: input.ticket, reveal: { grantId: grant.id } },
      'revealGrant',
      'success',
      `granted to group ${grant.granteeGroupId} for devices of ${grant.deviceGroupId} until ${grant.expirationDateTime}`,
    ),
  );
  await insertGrant(grant);
  return grant;
}

/** A grant of the caller's tenant: an approver sees any; a reader one they are a grantee of. */
export async function getRevealGrant(caller: Caller, id: string): Promise<RevealGrant> {
  const grant = await readGrant(tenantOf(caller), id);
  if (!grant || (!isAllowed(caller, 'decideReveal') && !(await callerGroups(caller)).has(grant.granteeGroupId))) {
    throw notFound(`No reveal grant '${id}' was found.`);
  }
  return grant;
}

/** The live grant that lets the caller at `deviceId`'s keys, or undefined. */
export async function activeGrant(caller: Caller, deviceId: string): Promise<RevealGrant | undefined> {
  const live = await liveGrants(tenantOf(caller), revealNow());
  if (live.length === 0) return undefined;
  const groups = await callerGroups(caller);
  // A granter who joined the grantee group after granting still does not read under their own grant.
  const me = personOf(caller).id;
  const mine = live.filter((grant) => groups.has(grant.granteeGroupId) && canonicalId(grant.grantedBy.id) !== me);
  if (mine.length === 0) return undefined;
  const deviceGroups = await revealDirectory().deviceGroups(deviceId);
  return mine.find((grant) => deviceGroups?.has(grant.deviceGroupId));
}

/** Devices of a grant's queue one answer lists at most. */
export const MAX_QUEUE_DEVICES = 1000;

/** The devices a grant covers (its device group's device members), for the console's queue. */
export async function grantQueue(caller: Caller, id: string): Promise<readonly OwnedDevice[]> {
  const grant = await getRevealGrant(caller, id);
  return (await revealDirectory().groupDevices(grant.deviceGroupId)).slice(0, MAX_QUEUE_DEVICES);
}
