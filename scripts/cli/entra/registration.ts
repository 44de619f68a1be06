import { randomUUID } from 'node:crypto';
import { Permission } from '../../../shared/auth/permissions';

// What the API's Entra ID app registration must hold, computed from what it holds now, so that the
// registration script can run again and again: existing roles and scopes keep their ids (Entra
// refuses to change an enabled one's id), ones it does not know are kept as they are, missing ones
// are added. Shapes are Microsoft Graph v1.0's application resource: appRole
// {allowedMemberTypes, description, displayName, id, isEnabled, value}, permissionScope
// {adminConsentDescription, adminConsentDisplayName, id, isEnabled, type, userConsent…, value},
// preAuthorizedApplication {appId, delegatedPermissionIds}
// (https://learn.microsoft.com/graph/api/resources/application, …/approle, …/permissionscope).

export interface AppRole {
  allowedMemberTypes: ('User' | 'Application')[];
  description: string;
  displayName: string;
  id: string;
  isEnabled: boolean;
  value: string;
}

export interface PermissionScope {
  adminConsentDescription: string;
  adminConsentDisplayName: string;
  id: string;
  isEnabled: boolean;
  type: 'User' | 'Admin';
  userConsentDescription: string | null;
  userConsentDisplayName: string | null;
  value: string;
}

export interface PreAuthorizedApplication {
  appId: string;
  delegatedPermissionIds: string[];
}

/** The parts of a Graph `application` this script reads and writes. */
export interface ApplicationApiShape {
  identifierUris: string[];
  appRoles: AppRole[];
  api: {
    requestedAccessTokenVersion: number | null;
    oauth2PermissionScopes: PermissionScope[];
    preAuthorizedApplications: PreAuthorizedApplication[];
  };
}

/** The Azure CLI's well-known client id: preauthorized for `user_impersonation` so helpdesk staff can `az account get-access-token`. */
export const AZURE_CLI_APP_ID = '04b07795-8ddb-461a-bbee-02f9e1bf7b46';

/**
 * The app roles: the permissions of shared/auth/permissions.ts (Purge.All included), for users and groups
 * as well as applications.
 */
export const ROLES: readonly Omit<AppRole, 'id' | 'isEnabled'>[] = [
  {
    value: Permission.ReadWrite,
    displayName: 'Escrow, change and delete BitLocker recovery keys',
    description: 'Write, update and delete recovery keys; cannot read a key back. For device-management services.',
  },
  {
    value: Permission.Read,
    displayName: 'Read BitLocker recovery keys',
    description: 'Read recovery keys, including the key itself ($select=key); every read is audited. For helpdesk staff.',
  },
  {
    value: Permission.ReadBasic,
    displayName: 'Read BitLocker recovery key metadata',
    description: 'List and read recovery-key metadata (ids, device, volume type, date), never the key. For inventory tools.',
  },
  {
    value: Permission.Purge,
    displayName: 'Purge BitLocker recovery keys',
    description: 'Permanently remove recovery keys. For retention processes and their administrators.',
  },
  {
    value: Permission.Approve,
    displayName: 'Approve BitLocker key reveals',
    description: "Approve or deny others' reveal requests and grant time-boxed bulk reveals for mass recovery; reads no key by itself.",
  },
  {
    value: Permission.AuditRead,
    displayName: 'Read the escrow audit trail',
    description: 'Read /auditLogs/directoryAudits of the escrow: who wrote, read or deleted which key, when.',
  },
].map((role) => ({ ...role, allowedMemberTypes: ['User', 'Application'] }));

/**
 * The one scope clients request for a signed-in user. It grants nothing by itself: the service
 * authorizes on the user's app-role assignments, which Entra puts in the delegated token's `roles`.
 */
export const USER_IMPERSONATION: Omit<PermissionScope, 'id' | 'isEnabled'> = {
  value: 'user_impersonation',
  type: 'User',
  adminConsentDisplayName: 'Access the BitLocker key escrow as the signed-in user',
  adminConsentDescription: 'Lets the app call the BitLocker key escrow as the signed-in user, with the app roles assigned to that user.',
  userConsentDisplayName: 'Access the BitLocker key escrow as you',
  userConsentDescription: 'Lets the app call the BitLocker key escrow as you, with the roles you have been assigned.',
};

/**
 * The delegated scopes: user_impersonation only. Scopes named like the roles are deliberately not
 * exposed: the service counts a token's scopes like its roles, so a role-named scope consented for a
 * client would give that permission to every user of the client, whatever their own role assignment.
 */
export const SCOPES: readonly Omit<PermissionScope, 'id' | 'isEnabled'>[] = [USER_IMPERSONATION];

function withIds<T extends { value: string; id?: string }>(
  wanted: readonly Omit<T, 'id' | 'isEnabled'>[],
  existing: readonly (T & { id: string })[],
  newId: () => string,
): (T & { id: string; isEnabled: boolean })[] {
  const byValue = new Map(existing.map((item) => [item.value, item]));
  const merged = wanted.map(
    (item) => ({ ...item, id: byValue.get(item.value)?.id ?? newId(), isEnabled: true }) as T & { id: string; isEnabled: boolean },
  );
  const known = new Set(wanted.map((item) => item.value));
  // Kept untouched: removing a role or scope needs disabling it first, and it may be someone's.
  const others = existing.filter((item) => !known.has(item.value)) as (T & { id: string; isEnabled: boolean })[];
  return [...merged, ...others];
}

/**
 * The application as it must be: `current` with our identifier URI, roles and scopes (ids kept),
 * access tokens v2, and the Azure CLI preauthorized for user_impersonation when `allowAzureCli`.
 */
export function desiredApplication(
  current: ApplicationApiShape,
  options: { identifierUri: string; allowAzureCli: boolean },
  newId: () => string = randomUUID,
): ApplicationApiShape {
  const scopes = withIds<PermissionScope>(SCOPES, current.api.oauth2PermissionScopes, newId);
  const impersonation = scopes.find((scope) => scope.value === USER_IMPERSONATION.value)!;
  const preAuthorized = current.api.preAuthorizedApplications.filter((app) => app.appId !== AZURE_CLI_APP_ID);
  if (options.allowAzureCli) preAuthorized.push({ appId: AZURE_CLI_APP_ID, delegatedPermissionIds: [impersonation.id] });
  return {
    identifierUris: current.identifierUris.includes(options.identifierUri)
      ? current.identifierUris
      : [...current.identifierUris, options.identifierUri],
    appRoles: withIds<AppRole>(ROLES, current.appRoles, newId),
    api: {
      // v2 tokens: `aud` is the client id, `iss` https://login.microsoftonline.com/{tenant}/v2.0 (both accepted by the service).
      requestedAccessTokenVersion: 2,
      oauth2PermissionScopes: scopes,
      preAuthorizedApplications: preAuthorized,
    },
  };
}
