import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { type AzScript, type AzStub, installAzStub } from '../support/azStub';

// infra/scripts/ensure-keyring.sh, the azd postprovision hook, run by sh with a stand-in `az` on PATH
// (azd, Azure and the Azure CLI cannot run here). What must hold: the keyring secret is written only
// after Key Vault said "not found", never after any other answer, and never over one that exists.

const SCRIPT = join(__dirname, '..', '..', 'infra', 'scripts', 'ensure-keyring.sh');
const ROLE_ASSIGNMENT_ID =
  '/subscriptions/0000/resourceGroups/rg-test/providers/Microsoft.KeyVault/vaults/kv-escrow-test/providers/Microsoft.Authorization/roleAssignments/1111';

let stub: AzStub | undefined;

afterEach(() => stub?.remove());

function runHook(script: AzScript, env: Record<string, string> = {}) {
  stub = installAzStub(script);
  const run = spawnSync('sh', [SCRIPT], {
    encoding: 'utf8',
    env: {
      PATH: stub.path,
      AZURE_KEY_VAULT_NAME: 'kv-escrow-test',
      AZURE_RESOURCE_GROUP: 'rg-test',
      AZURE_FUNCTION_APP_NAME: 'func-escrow-test',
      ENCRYPTION_KEYRING_SECRET_NAME: 'escrow-encryption-keys',
      KEYRING_WAIT_TRIES: '3',
      KEYRING_WAIT_SECONDS: '0',
      GRANT_KEYRING_ADMIN: 'true',
      KEYRING_ADMIN_ROLE_ASSIGNMENT_ID: ROLE_ASSIGNMENT_ID,
      ...env,
    },
  });
  const calls = stub.calls();
  const commands = calls.map((call) => call.args.slice(0, 3).join(' '));
  return {
    status: run.status,
    stdout: run.stdout,
    stderr: run.stderr,
    calls,
    sets: calls.filter((call) => call.args.slice(0, 3).join(' ') === 'keyvault secret set'),
    commands,
  };
}

describe('ensure-keyring.sh', () => {
  it.each([
    ['a network error', 'network', 'Max retries exceeded'],
    ['a token from another tenant', 'otherTenant', 'AKV10032'],
  ] as const)('fails at once, writing nothing, on %s', (_what, outcome, shown) => {
    const hook = runHook({ show: [outcome] });
    expect(hook.status).not.toBe(0);
    expect(hook.sets).toEqual([]);
    expect(hook.commands).toEqual(['keyvault secret show']);
    expect(hook.stderr).toContain('nothing was written');
    expect(hook.stderr).toContain(shown);
  });

  it('waits out a 403 while the grant propagates, and fails when it never does, writing nothing', () => {
    const hook = runHook({ show: ['forbidden'] });
    expect(hook.status).not.toBe(0);
    expect(hook.sets).toEqual([]);
    expect(hook.commands).toEqual(Array(3).fill('keyvault secret show'));
    expect(hook.stderr).toContain('still forbidden');
    // The grant stays for a rerun; it is removed only once the keyring is known to exist.
    expect(hook.commands).not.toContain('role assignment delete');
  });

  it('creates the keyring when Key Vault says SecretNotFound, after a 403 has passed', () => {
    const hook = runHook({ show: ['forbidden', 'notFound'] });
    expect(hook.status).toBe(0);
    expect(hook.sets).toHaveLength(1);
    const written = JSON.parse(hook.sets[0].stdin) as Record<string, string>;
    expect(Object.keys(written)).toEqual(['v1']);
    expect(Buffer.from(written.v1, 'base64')).toHaveLength(32);
    expect(hook.stdout).not.toContain(written.v1);
    expect(hook.stderr).not.toContain(written.v1);
    expect(hook.stdout).toContain('Created keyring secret escrow-encryption-keys (version v1)');
  });

  it('leaves an existing keyring alone', () => {
    const hook = runHook({ show: ['exists'] });
    expect(hook.status).toBe(0);
    expect(hook.sets).toEqual([]);
    expect(hook.stdout).toContain('exists in kv-escrow-test; left as it is');
  });

  it('looks again before retrying a failed write, and does not write over a keyring that appeared meanwhile', () => {
    const hook = runHook({ show: ['notFound', 'exists'], set: ['forbidden'] });
    expect(hook.status).toBe(0);
    expect(hook.sets).toHaveLength(1);
    expect(hook.commands.filter((command) => command === 'keyvault secret show')).toHaveLength(2);
  });

  it('removes the Secrets Officer grant of this provision once the keyring exists', () => {
    const hook = runHook({ show: ['exists'] });
    const deletes = hook.calls.filter((call) => call.args.slice(0, 3).join(' ') === 'role assignment delete');
    expect(deletes.map((call) => call.args)).toEqual([['role', 'assignment', 'delete', '--ids', ROLE_ASSIGNMENT_ID, '-o', 'none']]);
  });

  it('refreshes the Key Vault references by the documented API and waits until ENCRYPTION_KEYS is Resolved', () => {
    const hook = runHook({ show: ['exists'], referenceStatus: ['SecretNotFound', 'Resolved'] });
    expect(hook.status).toBe(0);
    const rest = hook.calls.filter((call) => call.args[0] === 'rest').map((call) => call.args.slice(1, 5));
    const site = '/subscriptions/0000/resourceGroups/rg-test/providers/Microsoft.Web/sites/func-escrow-test';
    expect(rest).toEqual([
      ['--method', 'post', '--url', `${site}/config/configreferences/appsettings/refresh?api-version=2022-03-01`],
      ['--method', 'get', '--url', `${site}/config/configreferences/appsettings/ENCRYPTION_KEYS?api-version=2022-03-01`],
      ['--method', 'get', '--url', `${site}/config/configreferences/appsettings/ENCRYPTION_KEYS?api-version=2022-03-01`],
    ]);
    expect(hook.stdout).toContain('ENCRYPTION_KEYS resolves from Key Vault.');
  });

  it('without GRANT_KEYRING_ADMIN touches no secret, and fails with the way out when the reference does not resolve', () => {
    const hook = runHook({ referenceStatus: ['SecretNotFound'] }, { GRANT_KEYRING_ADMIN: 'false' });
    expect(hook.status).not.toBe(0);
    expect(hook.commands.filter((command) => command.startsWith('keyvault') || command.startsWith('role'))).toEqual([]);
    expect(hook.stderr).toContain('status: SecretNotFound');
    expect(hook.stderr).toContain('azd env set GRANT_KEYRING_ADMIN true && azd provision');
  });
});
