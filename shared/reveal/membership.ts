import type { Caller } from '../auth/caller';
import { revealDirectory } from './directory';

/**
 * The caller's groups: the token's `groups` claim when it has one that fits, else Graph's
 * transitiveMemberOf of the caller (an overage, or a token issued without group claims), cached.
 */
export async function callerGroups(caller: Caller): Promise<ReadonlySet<string>> {
  if (caller.groups && !caller.groupsOverage) return caller.groups;
  if (!caller.oid) return new Set();
  return revealDirectory().userGroups(caller.oid.toLowerCase());
}
