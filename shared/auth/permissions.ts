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
