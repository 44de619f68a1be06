import { isAllowed } from '../auth/permissions';
import { settings } from '../config';
import { forbidden } from '../errors/graphError';
import { activeGrant } from './grants';
import type { RevealCheck } from './permit';
import { activeApproval } from './requests';
import type { Caller } from '../auth/caller';
import { authorizeScope, isScoped, requireScopeRule } from './scopes';
import { checkSelfService } from './selfService';

// Who may reveal which key: self-service owners (selfService.ts), REVEAL_SCOPES (scopes.ts), and
// approval where a rule or REVEAL_APPROVAL=required asks for it, met by an approved request
// (requests.ts) or a live bulk grant (grants.ts). What let the read through goes into its audit record.

const APPROVAL_NEEDED =
  'Approval needed: this key read needs an approved reveal request. POST /v1.0/informationProtection/bitlocker/revealRequests ' +
  '{"keyId", "reason", "ticket"} and ask a holder of BitLockerKey.Approve.All (not you) to approve it.';

/**
 * Before a key is read (after the rate limit): a scoped reader none of whose groups is in a
 * REVEAL_SCOPES rule may read no key, a 403 whichever id they name.
 */
export async function requireRevealRule(caller: Caller): Promise<void> {
  if (isAllowed(caller, 'readKey') && isScoped(caller)) await requireScopeRule(caller);
}

export const checkRevealPolicy: RevealCheck = async ({ caller, key, source, absent }) => {
  if (caller.device) return;
  if (!isAllowed(caller, 'readKey')) {
    // Self-service reads need no approval: the owner is the one locked out, at any hour.
    await checkSelfService(caller, key.deviceId, absent);
    source.reveal = { basis: 'selfService' };
    return;
  }
  let approval = settings().revealApproval === 'required';
  let scopeRule: number | undefined;
  if (isScoped(caller)) {
    const decision = await authorizeScope(caller, key.deviceId, absent);
    scopeRule = decision.rule;
    approval ||= decision.approval;
  }
  const basis = scopeRule === undefined ? 'role' : 'scope';
  source.reveal = { basis, ...(scopeRule !== undefined && { scopeRule }) };
  if (!approval) return;
  const approved = await activeApproval(caller, key.id);
  if (approved) {
    source.reveal = { ...source.reveal, basis: 'approval', approvalId: approved.id };
    return;
  }
  const grant = key.deviceId === undefined ? undefined : await activeGrant(caller, key.deviceId);
  if (grant) {
    source.reveal = { ...source.reveal, basis: 'grant', grantId: grant.id };
    return;
  }
  throw forbidden(APPROVAL_NEEDED);
};
