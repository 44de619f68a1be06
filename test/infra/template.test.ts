import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  type ArmResource,
  type CompiledInfra,
  compileInfra,
  moduleParameters,
  onlyResourceOfType,
  propertiesExpressionOf,
  propertiesOf,
  resourcesOfType,
} from '../support/armTemplate';

// The deployment as ARM JSON, compiled here with the pinned Bicep CLI (`npm run infra:build`, which
// fails on any linter finding), and the security posture read off it. Azure itself cannot be reached
// from here: what ARM does with these properties is Microsoft's reference, not something run.

const ROOT = join(__dirname, '..', '..');

let infra: CompiledInfra;

beforeAll(() => {
  infra = compileInfra();
}, 240_000);

/** The built-in role each role assignment grants, by name, resolved through the template's `roles` variable. */
function roleOf(assignment: ArmResource): string {
  const roleDefinitionId = String(propertiesOf(assignment).roleDefinitionId);
  const match = /variables\('roles'\)\.(\w+)/.exec(roleDefinitionId);
  if (!match) throw new Error(`role assignment with an unnamed role: ${roleDefinitionId}`);
  return match[1];
}

/** The resource type an expression's resourceId(...) names, e.g. Microsoft.KeyVault/vaults. */
function scopeTypeOf(resource: ArmResource): string {
  const match = /resourceId\('([^']+)'/.exec(resource.scope ?? '');
  if (!match) throw new Error(`${resource.type} without a resource scope`);
  return match[1];
}

function principalOf(assignment: ArmResource): string {
  const principalId = String(propertiesOf(assignment).principalId);
  if (principalId.includes("'Microsoft.ManagedIdentity/userAssignedIdentities'") && principalId.endsWith('.principalId]')) return 'app identity';
  if (principalId.includes("parameters('keyringAdmin')")) return 'provisioning principal';
  throw new Error(`role assignment to an unknown principal: ${principalId}`);
}

describe('npm run infra:build', () => {
  it('lints and compiles every Bicep file with no diagnostic', () => {
    const [lint, build, ...rest] = infra.buildOutput.split('\n');
    expect(lint).toBe('bicep lint: infra/main.bicep, infra/resources.bicep: no diagnostics');
    expect(build).toMatch(/^bicep build: .*main\.json: no diagnostics$/);
    expect(rest).toEqual(['']);
  });

  it('names the command that installs the Bicep CLI when it is missing', () => {
    // The build script and its tool paths, copied into a folder without .tools/.
    const bare = mkdtempSync(join(tmpdir(), 'escrow-no-tools-'));
    try {
      mkdirSync(join(bare, 'scripts', 'build', 'tools'), { recursive: true });
      for (const file of ['infraBuild.cjs', 'paths.cjs']) copyFileSync(join(ROOT, 'scripts', 'build', 'tools', file), join(bare, 'scripts', 'build', 'tools', file));
      const run = spawnSync(process.execPath, [join(bare, 'scripts', 'build', 'tools', 'infraBuild.cjs')], { encoding: 'utf8' });
      expect(run.status).toBe(2);
      expect(run.stderr).toBe('bicep 0.49.2 is not installed here: run `npm run setup:tools` once.\n');
    } finally {
      rmSync(bare, { recursive: true, force: true });
    }
  });

  it('is configured to make every linter rule an error', () => {
    const config = JSON.parse(readFileSync(join(ROOT, 'bicepconfig.json'), 'utf8')) as {
      analyzers: { core: { enabled: boolean; rules: Record<string, { level: string }> } };
    };
    expect(config.analyzers.core.enabled).toBe(true);
    const levels = new Set(Object.values(config.analyzers.core.rules).map((rule) => rule.level));
    expect([...levels]).toEqual(['error']);
    for (const rule of ['no-unused-params', 'outputs-should-not-contain-secrets', 'no-hardcoded-env-urls', 'use-secure-value-for-secure-inputs']) {
      expect(config.analyzers.core.rules[rule]).toEqual({ level: 'error' });
    }
  });
});

/** The storage account whose name starts so: 'stescrow' (the tables and the host) or 'stescrowbk' (the backups). */
function storageAccount(prefix: 'stescrow' | 'stescrowbk'): ArmResource {
  const accounts = resourcesOfType(infra.resources, 'Microsoft.Storage/storageAccounts');
  expect(accounts).toHaveLength(2);
  const found = accounts.filter((account) => account.name.startsWith(`[format('${prefix}{0}'`));
  expect(found).toHaveLength(1);
  return found[0];
}

describe('the storage accounts', () => {
  it.each(['stescrow', 'stescrowbk'] as const)('%s takes Entra ID only, over HTTPS with TLS 1.2 at least, and nothing public', (prefix) => {
    expect(propertiesOf(storageAccount(prefix))).toMatchObject({
      allowSharedKeyAccess: false,
      allowBlobPublicAccess: false,
      minimumTlsVersion: 'TLS1_2',
      supportsHttpsTrafficOnly: true,
      defaultToOAuthAuthentication: true,
    });
  });

  it('keep the keys read-access geo-zone-redundant by default, from a parameter, so regions without zones can deploy', () => {
    expect(storageAccount('stescrow').sku).toEqual({ name: "[parameters('storageSku')]" });
    expect(infra.main.parameters.storageSku).toMatchObject({ type: 'string', defaultValue: 'Standard_RAGZRS' });
    expect(infra.main.parameters.storageSku.allowedValues).toEqual(expect.arrayContaining(['Standard_ZRS', 'Standard_LRS', 'Standard_GRS']));
  });

  it('keep backups in an account of their own: versioned, immutable for the retention period, appendable for the audit outbox', () => {
    expect(storageAccount('stescrowbk').sku).toEqual({ name: 'Standard_RAGZRS' });
    const blobServices = resourcesOfType(infra.resources, 'Microsoft.Storage/storageAccounts/blobServices');
    const versioned = blobServices.filter((service) => service.properties !== undefined && propertiesOf(service).isVersioningEnabled === true);
    expect(versioned).toHaveLength(1);
    expect(versioned[0].name).toContain('stescrowbk');
    expect(propertiesOf(versioned[0])).toMatchObject({ deleteRetentionPolicy: { enabled: true } });
    const containers = resourcesOfType(infra.resources, 'Microsoft.Storage/storageAccounts/blobServices/containers');
    const backups = containers.find((container) => container.name.includes('backupContainerName'));
    expect(propertiesOf(backups!)).toEqual({ publicAccess: 'None', immutableStorageWithVersioning: { enabled: true } });
    const policy = onlyResourceOfType(infra.resources, 'Microsoft.Storage/storageAccounts/blobServices/containers/immutabilityPolicies');
    expect(propertiesOf(policy)).toEqual({
      immutabilityPeriodSinceCreationInDays: "[parameters('backupRetentionDays')]",
      allowProtectedAppendWrites: true,
    });
    expect(infra.main.parameters.backupRetentionDays).toMatchObject({ type: 'int', defaultValue: 35, minValue: 1 });
  });
});

describe('the key vault', () => {
  it('is in RBAC mode with soft delete and purge protection', () => {
    const vault = onlyResourceOfType(infra.resources, 'Microsoft.KeyVault/vaults');
    expect(propertiesOf(vault)).toMatchObject({
      enableRbacAuthorization: true,
      enableSoftDelete: true,
      enablePurgeProtection: true,
    });
    expect(propertiesOf(vault)).not.toHaveProperty('accessPolicies');
  });
});

describe('delete locks', () => {
  it('are CanNotDelete on both storage accounts and on the vault, unconditionally', () => {
    const locks = resourcesOfType(infra.resources, 'Microsoft.Authorization/locks');
    expect(locks.map((lock) => [scopeTypeOf(lock), propertiesOf(lock).level, lock.condition]).sort()).toEqual([
      ['Microsoft.KeyVault/vaults', 'CanNotDelete', undefined],
      ['Microsoft.Storage/storageAccounts', 'CanNotDelete', undefined],
      ['Microsoft.Storage/storageAccounts', 'CanNotDelete', undefined],
    ]);
  });
});

describe('the function app', () => {
  it('is HTTPS only with TLS 1.2 on the site and SCM, FTP off', () => {
    const site = onlyResourceOfType(infra.resources, 'Microsoft.Web/sites');
    expect(propertiesOf(site)).toMatchObject({
      httpsOnly: true,
      siteConfig: { minTlsVersion: '1.2', scmMinTlsVersion: '1.2', ftpsState: 'Disabled' },
    });
  });

  it('allows no basic-auth publishing, neither FTP nor SCM', () => {
    const policies = resourcesOfType(infra.resources, 'Microsoft.Web/sites/basicPublishingCredentialsPolicies');
    expect(policies.map((policy) => [/'(ftp|scm)'\)\]$/.exec(policy.name)?.[1], propertiesOf(policy).allow]).sort()).toEqual([
      ['ftp', false],
      ['scm', false],
    ]);
  });

  it('runs Node 22 on Flex Consumption', () => {
    const site = onlyResourceOfType(infra.resources, 'Microsoft.Web/sites');
    expect(propertiesOf(site).functionAppConfig).toMatchObject({ runtime: { name: 'node', version: '22' } });
    expect(onlyResourceOfType(infra.resources, 'Microsoft.Web/serverfarms').sku).toEqual({ name: 'FC1', tier: 'FlexConsumption' });
  });

  it('has only the user-assigned identity, which the app, Key Vault references and Graph calls all use', () => {
    const site = onlyResourceOfType(infra.resources, 'Microsoft.Web/sites');
    expect(site.identity).toMatchObject({ type: 'UserAssigned' });
    const settings = propertiesExpressionOf(onlyResourceOfType(infra.resources, 'Microsoft.Web/sites/config'));
    expect(settings).toContain(
      "'AZURE_CLIENT_ID', reference(resourceId('Microsoft.ManagedIdentity/userAssignedIdentities', format('id-escrow-{0}', parameters('resourceToken'))), '2023-01-31').clientId",
    );
    // Graph permissions are granted to this principal (docs/deployment.md), so azd must print it.
    expect(infra.main.outputs.AZURE_FUNCTION_IDENTITY_PRINCIPAL_ID).toEqual({
      type: 'string',
      value: "[reference(extensionResourceId(format('/subscriptions/{0}/resourceGroups/{1}', subscription().subscriptionId, format('rg-{0}', parameters('environmentName'))), 'Microsoft.Resources/deployments', 'resources'), '2025-04-01').outputs.identityPrincipalId.value]",
    });
    expect(infra.resources.outputs.identityPrincipalId.value).toBe(
      "[reference(resourceId('Microsoft.ManagedIdentity/userAssignedIdentities', format('id-escrow-{0}', parameters('resourceToken'))), '2023-01-31').principalId]",
    );
  });
});

describe('role assignments', () => {
  it('each name a principalType, so ARM never has to look up a principal that has not replicated yet', () => {
    const assignments = resourcesOfType(infra.resources, 'Microsoft.Authorization/roleAssignments');
    expect(assignments.length).toBeGreaterThan(0);
    for (const assignment of assignments) expect(propertiesOf(assignment).principalType).toEqual(expect.any(String));
  });

  it('grant exactly the least-privilege roles, with the built-in role ids, each at the narrowest scope', () => {
    const assignments = resourcesOfType(infra.resources, 'Microsoft.Authorization/roleAssignments');
    expect(assignments.map((a) => [principalOf(a), roleOf(a), scopeTypeOf(a)]).sort()).toEqual([
      ['app identity', 'keyVaultSecretsUser', 'Microsoft.KeyVault/vaults'],
      ['app identity', 'monitoringMetricsPublisher', 'Microsoft.Insights/components'],
      ['app identity', 'storageBlobDataContributor', 'Microsoft.Storage/storageAccounts/blobServices/containers'],
      ['app identity', 'storageBlobDataOwner', 'Microsoft.Storage/storageAccounts'],
      ['app identity', 'storageTableDataContributor', 'Microsoft.Storage/storageAccounts'],
      ['provisioning principal', 'keyVaultSecretsOfficer', 'Microsoft.KeyVault/vaults'],
    ]);
    // Built-in role definition ids are the same in every tenant (learn.microsoft.com built-in roles).
    expect(infra.resources.variables?.roles).toEqual({
      storageBlobDataOwner: 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b',
      storageTableDataContributor: '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3',
      keyVaultSecretsUser: '4633458b-17de-408a-b874-0445c86b69e6',
      keyVaultSecretsOfficer: 'b86a8fe4-44ce-4948-aee5-eccb2c155cd7',
      monitoringMetricsPublisher: '3913510d-42f4-4e42-8a64-420c390055eb',
      storageBlobDataContributor: 'ba92f5b4-2d11-453d-a403-e96b0029c9fe',
    });
  });

  it('give whoever provisions no standing Secrets Officer grant: only when GRANT_KEYRING_ADMIN asks, with their principal type', () => {
    const officer = resourcesOfType(infra.resources, 'Microsoft.Authorization/roleAssignments').find(
      (assignment) => roleOf(assignment) === 'keyVaultSecretsOfficer',
    );
    expect(officer?.condition).toBe("[not(empty(parameters('keyringAdmin')))]");
    expect(infra.main.parameters.grantKeyringAdmin).toMatchObject({ type: 'bool', defaultValue: false });
    const moduleParams = moduleParameters(infra.main);
    expect(moduleParams.keyringAdmin).toBe(
      "[if(and(parameters('grantKeyringAdmin'), not(empty(parameters('provisioningPrincipalId')))), createObject('value', createObject('principalId', parameters('provisioningPrincipalId'), 'principalType', parameters('provisioningPrincipalType'))), createObject('value', createObject()))]",
    );
    expect(propertiesOf(officer as ArmResource).principalType).toBe("[coalesce(tryGet(parameters('keyringAdmin'), 'principalType'), 'User')]");
    // So that the postprovision hook can delete exactly the assignment this provision made.
    expect(infra.main.outputs.KEYRING_ADMIN_ROLE_ASSIGNMENT_ID).toMatchObject({ type: 'string' });
  });
});

describe('app settings', () => {
  // Settings the template itself owns (identity, storage, keyring), and those only local runs read.
  const OWNED_BY_TEMPLATE = [
    'AUTH_MODE',
    'AUTH_TENANT_ID',
    'AUTH_AUDIENCE',
    'STORAGE_TABLE_ENDPOINT',
    'ENCRYPTION_KEYS',
    'ENCRYPTION_ACTIVE_KEY',
    'BACKUP_BLOB_ENDPOINT',
    // The audit export's data collection rule (its endpoint and immutable id) and its stream and
    // schedule: set by the template from the rule it creates, wired on the infra branch.
    'AUDIT_LOGS_INGESTION_ENDPOINT',
    'AUDIT_LOGS_RULE_ID',
    'AUDIT_LOGS_STREAM',
    'AUDIT_LOGS_SCHEDULE',
  ];
  const LOCAL_ONLY = ['STORAGE_CONNECTION_STRING', 'BACKUP_CONNECTION_STRING', 'LOCAL_STATE_DIR', 'PORT'];
  // Set by the hosting platform, read only to refuse local modes there: never an operator's choice.
  const SET_BY_PLATFORM = ['WEBSITE_INSTANCE_ID', 'WEBSITE_SITE_NAME', 'WEBSITE_POD_NAME', 'LEGION_SERVICE_HOST', 'CONTAINER_APP_NAME'];

  interface ParameterFile {
    parameters: Record<string, { value: unknown }>;
  }
  const parameterFile = JSON.parse(readFileSync(join(ROOT, 'infra', 'main.parameters.json'), 'utf8')) as ParameterFile;

  it('are every setting the service reads, each a parameter fed from the azd env variable of its name', () => {
    const read = new Set([...readFileSync(join(ROOT, 'shared', 'config.ts'), 'utf8').matchAll(/'([A-Z][A-Z_]{3,})'/g)].map((m) => m[1]));
    const chosen = [...read]
      .filter((name) => !OWNED_BY_TEMPLATE.includes(name) && !LOCAL_ONLY.includes(name) && !SET_BY_PLATFORM.includes(name))
      .sort();
    expect(chosen).toContain('DEVICE_AUTH');
    const fed = parameterFile.parameters.appSettings?.value as Record<string, string> | undefined;
    expect(Object.keys(fed ?? {}).sort()).toEqual(chosen);
    for (const [name, value] of Object.entries(fed ?? {})) expect([name, value]).toEqual([name, `\${${name}=}`]);
  });

  it('are merged into the list the template writes, so a provision keeps them rather than wiping them', () => {
    const settings = propertiesExpressionOf(onlyResourceOfType(infra.resources, 'Microsoft.Web/sites/config'));
    expect(settings).toMatch(/^\[union\(createObject\(.*\), parameters\('optionalAppSettings'\)\)\]$/);
    const moduleParams = moduleParameters(infra.main);
    // Empty values are dropped, so an unset azd variable leaves the app's default in force.
    expect(moduleParams.optionalAppSettings).toEqual({
      value:
        "[toObject(filter(items(parameters('appSettings')), lambda('item', not(empty(lambdaVariables('item').value)))), lambda('item', lambdaVariables('item').key), lambda('item', lambdaVariables('item').value))]",
    });
  });

  it('leave no template parameter to a prompt or a default azd cannot see: main.parameters.json feeds each one', () => {
    expect(Object.keys(parameterFile.parameters).sort()).toEqual(Object.keys(infra.main.parameters).sort());
    expect(parameterFile.parameters.provisioningPrincipalType).toEqual({ value: '${AZURE_PRINCIPAL_TYPE=User}' });
    expect(parameterFile.parameters.grantKeyringAdmin).toEqual({ value: '${GRANT_KEYRING_ADMIN=false}' });
    expect(parameterFile.parameters.storageSku).toEqual({ value: '${AZURE_STORAGE_SKU=Standard_RAGZRS}' });
    expect(parameterFile.parameters.backupRetentionDays).toEqual({ value: '${BACKUP_RETENTION_DAYS=35}' });
  });
});

describe('outputs', () => {
  it('carry no secret, key or connection string', () => {
    for (const template of [infra.main, infra.resources]) {
      for (const [name, output] of Object.entries(template.outputs)) {
        expect([name, output.type]).toEqual([name, 'string']);
        expect([name, output.value]).not.toEqual([name, expect.stringMatching(/\blist\w*\(|ConnectionString|primaryKey|secondaryKey|InstrumentationKey/i)]);
        expect([name, output.value]).not.toEqual([name, expect.stringMatching(/parameters\('(appSettings|authAudience)'\)/)]);
      }
    }
  });
});

describe('the region', () => {
  it('is one that offers Flex Consumption, and azd asks for it as a location', () => {
    const location = infra.main.parameters.location;
    expect(location.metadata).toMatchObject({ azd: { type: 'location' } });
    expect(location.allowedValues).toEqual(expect.arrayContaining(['eastus', 'westeurope', 'swedencentral', 'australiaeast']));
    // Flex Consumption is not offered there (quickstart's allow-list).
    expect(location.allowedValues).not.toContain('westindia');
  });
});
