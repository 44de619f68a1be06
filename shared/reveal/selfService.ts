import type { Caller } from '../auth/caller';
import { authorize, isAllowed, Permission } from '../auth/permissions';
import { settings } from '../config';
import { asIfAbsent, badRequest, forbidden, type GraphError } from '../errors/graphError';
import { REVEAL_REASON_HEADER } from '../revealReasons';
import { revealDirectory } from './directory';

// Self-service (SELF_SERVICE_REVEAL=true): a signed-in user who holds no BitLocker permission at all
// may read the keys of devices they are a registered owner of in Entra ID, with a reason. Nothing else
// opens to them: listing, searching and metadata reads still need a role, as before.

const BITLOCKER_PERMISSIONS = Object.values(Permission).map((name) => name.toLowerCase());

/** Whether the caller would read keys as self-service: the setting on, a user (delegated token), and no BitLocker permission. */
export const isSelfService = (caller: Caller): boolean =>
  settings().selfServiceReveal &&
  caller.delegated &&
  !caller.device &&
  !BITLOCKER_PERMISSIONS.some((permission) => caller.permissions.has(permission));

/**
 * A key read's permission, before the key is read: BitLockerKey.Read.All, or self-service with a reason
 * (400 without), whose ownership of the key's device is checked once the key is read (checkSelfService).
 * 403 otherwise, as before. Nothing here depends on the key, so no answer tells whether it exists.
 */
export function authorizeKeyRead(caller: Caller, reason: string | undefined): void {
  if (!isSelfService(caller)) return authorize(caller, 'readKey');
  if (!reason) throw badRequest(`A self-service key read needs ${REVEAL_REASON_HEADER}: say why the key is needed.`);
}

/** Whether the caller is a registered owner in Entra ID of `deviceId`; Graph's 503 if it cannot say. */
export async function ownsDevice(caller: Caller, deviceId: string | undefined): Promise<boolean> {
  const owners = deviceId === undefined || !caller.oid ? undefined : await revealDirectory().deviceOwners(deviceId);
  return owners?.has(caller.oid!.toLowerCase()) ?? false;
}

/**
 * For a caller without BitLockerKey.Read.All: a self-service owner of the key's device may read it; the
 * key of a device they do not own is answered as `absent` (asIfAbsent), the refusal kept for the audit trail.
 */
export async function checkSelfService(caller: Caller, deviceId: string | undefined, absent: () => GraphError): Promise<void> {
  if (isAllowed(caller, 'readKey')) return;
  if (!isSelfService(caller) || !caller.oid) authorize(caller, 'readKey');
  if (!(await ownsDevice(caller, deviceId))) {
    throw asIfAbsent(
      absent(),
      forbidden("Self-service: you are not a registered owner of this key's device in Entra ID, so you may not read its key."),
    );
  }
}
