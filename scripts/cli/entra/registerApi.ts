// `npm run entra:register -- [--name "BitLocker key escrow"] [--identifier-uri api://bitlocker-key-escrow] [--no-azure-cli]`
//
// Creates or updates the API's Entra ID app registration with the Azure CLI (`az ad app`, `az ad sp`,
// `az rest` against Microsoft Graph v1.0), as whoever is logged in to `az` (Application Administrator
// or Cloud Application Administrator, or owner of an existing registration). Idempotent: run it again
// after a change and it converges; ids of existing roles and scopes never change.
// - the application, found by its Application ID URI (created if missing, single tenant),
// - app roles BitLockerKey.ReadWrite.All / Read.All / ReadBasic.All / Purge.All / Approve.All and AuditLog.Read.All,
// - one delegated scope, user_impersonation (permissions come from the user's app-role assignments),
//   access tokens v2, the Azure CLI preauthorized for user_impersonation (unless --no-azure-cli),
// - its service principal (enterprise application) with "assignment required" on,
// then prints the settings to copy. Nothing here is run by CI: Entra ID is not reachable from it.

import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { type ApplicationApiShape, desiredApplication, ROLES } from './registration';

const GRAPH = 'https://graph.microsoft.com/v1.0';

function az(args: string[]): string {
  return execFileSync('az', [...args, '--only-show-errors'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }).trim();
}

/** `az rest` with a JSON body, passed as `@file` (a private temporary file, removed afterwards). */
function azRestWithBody(method: string, uri: string, body: unknown): void {
  const dir = mkdtempSync(join(tmpdir(), 'escrow-entra-'));
  try {
    const file = join(dir, 'body.json');
    writeFileSync(file, JSON.stringify(body), { mode: 0o600 });
    az(['rest', '--method', method, '--uri', uri, '--headers', 'Content-Type=application/json', '--body', `@${file}`]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const azJson = <T>(args: string[]): T => JSON.parse(az([...args, '-o', 'json']) || 'null') as T;

interface GraphApplication extends ApplicationApiShape {
  id: string;
  appId: string;
  displayName: string;
}

const SELECT = '$select=id,appId,displayName,identifierUris,appRoles,api';

function findApplication(identifierUri: string): GraphApplication | undefined {
  const filter = encodeURIComponent(`identifierUris/any(x:x eq '${identifierUri.replace(/'/g, "''")}')`);
  const found = azJson<{ value: GraphApplication[] }>([
    'rest',
    '--method',
    'GET',
    '--uri',
    `${GRAPH}/applications?$filter=${filter}&${SELECT}`,
  ]);
  return found.value[0];
}

function main(): void {
  const { values } = parseArgs({
    options: {
      name: { type: 'string', default: 'BitLocker key escrow' },
      'identifier-uri': { type: 'string', default: 'api://bitlocker-key-escrow' },
      'no-azure-cli': { type: 'boolean', default: false },
    },
  });
  const identifierUri = values['identifier-uri'];
  if (!/^(api|https):\/\/\S+$/.test(identifierUri))
    throw new Error('--identifier-uri must look like api://name or https://verified-domain/path');

  let app = findApplication(identifierUri);
  if (!app) {
    const created = azJson<{ id: string }>(['ad', 'app', 'create', '--display-name', values.name, '--sign-in-audience', 'AzureADMyOrg']);
    app = azJson<GraphApplication>(['rest', '--method', 'GET', '--uri', `${GRAPH}/applications/${created.id}?${SELECT}`]);
    process.stderr.write(`Created application ${app.appId}\n`);
  }

  const desired = desiredApplication(app, { identifierUri, allowAzureCli: !values['no-azure-cli'] });
  azRestWithBody('PATCH', `${GRAPH}/applications/${app.id}`, desired);

  // The enterprise application: only users, groups and apps assigned a role get tokens for the API.
  const existingSp = azJson<{ id: string }[]>(['ad', 'sp', 'list', '--filter', `appId eq '${app.appId}'`, '--query', '[].{id:id}']);
  if (existingSp.length === 0) az(['ad', 'sp', 'create', '--id', app.appId, '-o', 'none']);
  az(['ad', 'sp', 'update', '--id', app.appId, '--set', 'appRoleAssignmentRequired=true', '-o', 'none']);

  const tenant = az(['account', 'show', '--query', 'tenantId', '-o', 'tsv']);
  process.stdout.write(
    [
      `Application "${app.displayName}" (client id ${app.appId}), tenant ${tenant}`,
      `App roles: ${ROLES.map((role) => role.value).join(', ')}; assignment required: on.`,
      '',
      'Function App settings (azd: `azd env set AUTH_AUDIENCE ...` before `azd up`):',
      `  AUTH_TENANT_ID=${tenant}`,
      `  AUTH_AUDIENCE=${identifierUri},${app.appId}`,
      '',
      'Assign roles (Entra admin center > Enterprise applications > this app > Users and groups), e.g. the helpdesk group to BitLockerKey.Read.All.',
      'Helpdesk token outside the console (after `az login`):',
      `  az account get-access-token --scope ${identifierUri}/user_impersonation --query accessToken -o tsv`,
      'Service (client credentials) token: request scope ' + `${identifierUri}/.default` + ' with a client assigned an app role.',
      '',
    ].join('\n'),
  );
}

try {
  main();
} catch (error) {
  process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 1;
}
