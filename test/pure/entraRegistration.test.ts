import { expect } from '@jest/globals';
import { AZURE_CLI_APP_ID, type ApplicationApiShape, desiredApplication } from '../../scripts/cli/entra/registration';

// The app registration script converges: what it writes, read back and run again, is what it writes.

const empty: ApplicationApiShape = {
  identifierUris: [],
  appRoles: [],
  api: { requestedAccessTokenVersion: null, oauth2PermissionScopes: [], preAuthorizedApplications: [] },
};
const options = { identifierUri: 'api://bitlocker-key-escrow', allowAzureCli: true };

function counter(): () => string {
  let n = 0;
  return () => `00000000-0000-4000-8000-${String(++n).padStart(12, '0')}`;
}

describe('desiredApplication', () => {
  it('adds the identifier URI, the six app roles, the scopes and the Azure CLI preauthorization', () => {
    const app = desiredApplication(empty, options, counter());
    expect(app.identifierUris).toEqual(['api://bitlocker-key-escrow']);
    expect(app.appRoles.map((role) => role.value)).toEqual([
      'BitLockerKey.ReadWrite.All',
      'BitLockerKey.Read.All',
      'BitLockerKey.ReadBasic.All',
      'BitLockerKey.Purge.All',
      'BitLockerKey.Approve.All',
      'AuditLog.Read.All',
    ]);
    for (const role of app.appRoles) {
      expect(role).toEqual({
        allowedMemberTypes: ['User', 'Application'],
        description: expect.any(String),
        displayName: expect.any(String),
        id: expect.stringMatching(/^[0-9a-f-]{36}$/),
        isEnabled: true,
        value: role.value,
      });
    }
    const scopes = app.api.oauth2PermissionScopes;
    // One scope: a scope named like a role would grant that role to every user of a consented client.
    expect(scopes.map((scope) => [scope.value, scope.type])).toEqual([['user_impersonation', 'User']]);
    const impersonation = scopes.find((scope) => scope.value === 'user_impersonation')!;
    expect(app.api.preAuthorizedApplications).toEqual([{ appId: AZURE_CLI_APP_ID, delegatedPermissionIds: [impersonation.id] }]);
    expect(app.api.requestedAccessTokenVersion).toBe(2);
    // Ids are unique across roles and scopes.
    const ids = [...app.appRoles, ...scopes].map((item) => item.id);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it("is idempotent: a second run over the first one's result changes nothing and keeps every id", () => {
    const first = desiredApplication(empty, options, counter());
    const second = desiredApplication(first, options, () => {
      throw new Error('no new id may be needed');
    });
    expect(second).toEqual(first);
  });

  it('keeps roles, scopes, URIs and preauthorizations it does not manage, and withdraws the Azure CLI on request', () => {
    const first = desiredApplication(empty, options, counter());
    const foreignRole = {
      allowedMemberTypes: ['User' as const],
      description: 'x',
      displayName: 'x',
      id: 'f0000000-0000-4000-8000-000000000001',
      isEnabled: true,
      value: 'Other.Role',
    };
    const foreignApp = { appId: 'a0000000-0000-4000-8000-000000000001', delegatedPermissionIds: [first.api.oauth2PermissionScopes[0].id] };
    const current: ApplicationApiShape = {
      ...first,
      identifierUris: ['api://other', ...first.identifierUris],
      appRoles: [...first.appRoles, foreignRole],
      api: { ...first.api, preAuthorizedApplications: [...first.api.preAuthorizedApplications, foreignApp] },
    };
    const next = desiredApplication(current, { ...options, allowAzureCli: false }, counter());
    expect(next.identifierUris).toEqual(['api://other', 'api://bitlocker-key-escrow']);
    expect(next.appRoles).toContainEqual(foreignRole);
    expect(next.api.preAuthorizedApplications).toEqual([foreignApp]);
  });
});
