import { forbidden } from '../errors/graphError';
import type { Caller } from './caller';
import { authorizeDevice } from './device/access';

export const Permission = {
  ReadBasic: 'BitLockerKey.ReadBasic.All',
  Read: 'BitLockerKey.Read.All',
  ReadWrite: 'BitLockerKey.ReadWrite.All',
  /** Purging a deleted key destroys the last copy of its password: an app role of its own, which ReadWrite.All does not imply. */
  Purge: 'BitLockerKey.Purge.All',
  AuditRead: 'AuditLog.Read.All',
  /** Deciding others' reveal requests and granting bulk reveals: a role of its own, which no read or write role implies. */
  Approve: 'BitLockerKey.Approve.All',
} as const;

export type PermissionName = (typeof Permission)[keyof typeof Permission];

/** Operations and the permissions that allow them: the one permission matrix of the service. */
export const permissionsFor = {
  writeKey: [Permission.ReadWrite],
  readMetadata: [Permission.ReadBasic, Permission.Read, Permission.ReadWrite],
  readKey: [Permission.Read],
  deleteKey: [Permission.ReadWrite],
  /** Not writeKey: a device (which may write its own keys) may not bring back a deleted one. */
  restoreKey: [Permission.ReadWrite],
  readAudit: [Permission.AuditRead],
  purgeKey: [Permission.Purge],
  /** A device writes its own status (shared/auth/device/access.ts); a management tool any device's. */
  writeDeviceStatus: [Permission.ReadWrite],
  readDeviceStatus: [Permission.ReadBasic, Permission.Read, Permission.ReadWrite],
  /** The coverage report names devices, owners and key ids, never a password. */
  readCoverage: [Permission.ReadBasic, Permission.Read, Permission.ReadWrite],
  /** Asking for a reveal to be approved: those who may read keys at all. */
  requestReveal: [Permission.Read],
  /** One reveal request or grant, or the list: a reader sees their own, an approver every one (shared/reveal/). */
  readRevealRequests: [Permission.Read, Permission.Approve],
  /** Approving or denying someone else's reveal request (never one's own: shared/reveal/requests.ts). */
  decideReveal: [Permission.Approve],
  /** A time-boxed reveal of a device group's keys for mass recovery. */
  grantBulkReveal: [Permission.Approve],
  /**
   * No role at all: a signed-in user's own devices and their keys (SELF_SERVICE_REVEAL; ownership in
   * Entra ID is the check, shared/reveal/selfService.ts). Never passed to authorize.
   */
  selfService: [],
} as const satisfies Record<string, readonly PermissionName[]>;

export type Operation = keyof typeof permissionsFor;

export function isAllowed(caller: Caller, operation: Operation): boolean {
  return permissionsFor[operation].some((p) => caller.permissions.has(p.toLowerCase()));
}

export function authorize(caller: Caller, operation: Operation): void {
  if (caller.device) return authorizeDevice(caller.device, operation);
  if (!isAllowed(caller, operation)) {
    const needed = permissionsFor[operation];
    throw forbidden(
      `Insufficient privileges to complete the operation: it needs ${needed.length > 1 ? 'one of ' : ''}${needed.join(', ')}.`,
    );
  }
}
