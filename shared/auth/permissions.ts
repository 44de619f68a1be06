import { forbidden } from '../errors/graphError';
import type { Caller } from './caller';
import { notForDevices } from './device/access';

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

/**
 * Who may do what to a row of the matrix below: which token permissions allow it, and whether a device may.
 * - `tokens`: a bearer token needs one of these permissions (an app role, or a delegated scope).
 * - `devices`: a device proven with the EntraDevice scheme has no token and no permissions. `'own'`: it
 *   may, on its own device's records only (the operation or its use case checks which:
 *   shared/auth/device/access.ts); `'never'`: it may not.
 */
export interface OperationRule {
  readonly tokens: readonly PermissionName[];
  readonly devices: 'own' | 'never';
}

/**
 * Operations and who may perform them: the one permission matrix of the service, read by authorize()
 * and by the OpenAPI document. To add an operation, add one row naming both columns (the type refuses a
 * row without either); it is then an Operation that functions/ can authorize. The spec's expectations
 * live in tests, copied from the spec, never derived from this table (test/storage/permissionMatrix.test.ts,
 * test/pure/auth/permissions.test.ts).
 */
export const PERMISSION_MATRIX = {
  writeKey: { tokens: [Permission.ReadWrite], devices: 'own' },
  /** A device reads no key and no single key's metadata: only the list of its own keys (authorizeDeviceListing). */
  readMetadata: { tokens: [Permission.ReadBasic, Permission.Read, Permission.ReadWrite], devices: 'never' },
  readKey: { tokens: [Permission.Read], devices: 'never' },
  /** A device deletes only its own key, and only once a successor superseded it (shared/recoveryKeys/rotation.ts). */
  deleteKey: { tokens: [Permission.ReadWrite], devices: 'own' },
  /** Not writeKey: a device (which may write its own keys) may not bring back a deleted one. */
  restoreKey: { tokens: [Permission.ReadWrite], devices: 'never' },
  readAudit: { tokens: [Permission.AuditRead], devices: 'never' },
  purgeKey: { tokens: [Permission.Purge], devices: 'never' },
  /** A device writes its own status; a management tool any device's. */
  writeDeviceStatus: { tokens: [Permission.ReadWrite], devices: 'own' },
  readDeviceStatus: { tokens: [Permission.ReadBasic, Permission.Read, Permission.ReadWrite], devices: 'never' },
  /** The coverage report names devices, owners and key ids, never a password. */
  readCoverage: { tokens: [Permission.ReadBasic, Permission.Read, Permission.ReadWrite], devices: 'never' },
  /** Asking for a reveal to be approved: those who may read keys at all. */
  requestReveal: { tokens: [Permission.Read], devices: 'never' },
  /** One reveal request or grant, or the list: a reader sees their own, an approver every one (shared/reveal/). */
  readRevealRequests: { tokens: [Permission.Read, Permission.Approve], devices: 'never' },
  /** Approving or denying someone else's reveal request (never one's own: shared/reveal/requests.ts). */
  decideReveal: { tokens: [Permission.Approve], devices: 'never' },
  /** A time-boxed reveal of a device group's keys for mass recovery. */
  grantBulkReveal: { tokens: [Permission.Approve], devices: 'never' },
  /**
   * No role at all: a signed-in user's own devices and their keys (SELF_SERVICE_REVEAL; ownership in
   * Entra ID is the check, shared/reveal/selfService.ts). Never passed to authorize.
   */
  selfService: { tokens: [], devices: 'never' },
} as const satisfies Record<string, OperationRule>;

export type Operation = keyof typeof PERMISSION_MATRIX;

/** The matrix's token column: the permissions of which a token needs one, per operation. */
export const permissionsFor = Object.fromEntries(
  Object.entries(PERMISSION_MATRIX).map(([operation, rule]) => [operation, rule.tokens]),
) as { readonly [O in Operation]: (typeof PERMISSION_MATRIX)[O]['tokens'] };

export function isAllowed(caller: Caller, operation: Operation): boolean {
  return permissionsFor[operation].some((p) => caller.permissions.has(p.toLowerCase()));
}

/** 403 unless the matrix lets this caller perform the operation at all (a device: on its own records). */
export function authorize(caller: Caller, operation: Operation): void {
  if (caller.device) {
    if (PERMISSION_MATRIX[operation].devices === 'never') throw notForDevices(caller.device);
    return;
  }
  if (!isAllowed(caller, operation)) {
    const needed = permissionsFor[operation];
    throw forbidden(
      `Insufficient privileges to complete the operation: it needs ${needed.length > 1 ? 'one of ' : ''}${needed.join(', ')}.`,
    );
  }
}
