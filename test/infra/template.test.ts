import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ACTIVITIES } from '../../shared/audit/model';
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
      ['app identity', 'monitoringMetricsPublisher', 'Microsoft.Insights/dataCollectionRules'],
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
    // The audit trail's data collection rule (auditToLogAnalytics): its endpoint, id and stream.
    'AUDIT_LOGS_INGESTION_ENDPOINT',
    'AUDIT_LOGS_RULE_ID',
    'AUDIT_LOGS_STREAM',
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
    expect(parameterFile.parameters.alertEmail).toEqual({ value: '${AZURE_ALERT_EMAIL=}' });
    expect(parameterFile.parameters.alertActionGroupId).toEqual({ value: '${AZURE_ALERT_ACTION_GROUP_ID=}' });
    expect(parameterFile.parameters.privateNetwork).toEqual({ value: '${AZURE_PRIVATE_NETWORK=false}' });
    expect(parameterFile.parameters.auditToLogAnalytics).toEqual({ value: '${AUDIT_TO_LOG_ANALYTICS=true}' });
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

/** The value of a `[variables('name')]` expression (or `[variables('name')][copyIndex()]`'s list) from the resources template. */
function variable<T>(name: string): T {
  const value = infra.resources.variables?.[name];
  if (value === undefined) throw new Error(`no variable ${name}`);
  return value as T;
}

/** Whether a resource is deployed only when `parameters('name')` is true (its condition names it). */
function conditionOf(resource: ArmResource): string {
  return String(resource.condition ?? 'always');
}

interface LogAlert {
  name: string;
  on: 'insights' | 'audit';
  query: string;
  measure: string;
  threshold: number;
  frequency: string;
  window: string;
}

describe('the audit trail in Log Analytics (auditToLogAnalytics)', () => {
  // The columns Graph's directoryAudit record has, as the exporter sends them, and TimeGenerated.
  const COLUMNS = [
    ['TimeGenerated', 'datetime'],
    ['id', 'string'],
    ['category', 'string'],
    ['correlationId', 'string'],
    ['activityDisplayName', 'string'],
    ['activityDateTime', 'datetime'],
    ['operationType', 'string'],
    ['loggedByService', 'string'],
    ['result', 'string'],
    ['resultReason', 'string'],
    ['initiatedBy', 'dynamic'],
    ['targetResources', 'dynamic'],
    ['additionalDetails', 'dynamic'],
  ].map(([name, type]) => ({ name, type }));

  it('is on by default, from a parameter azd feeds', () => {
    expect(infra.main.parameters.auditToLogAnalytics).toMatchObject({ type: 'bool', defaultValue: true });
    expect(moduleParameters(infra.main).auditToLogAnalytics).toEqual({ value: "[parameters('auditToLogAnalytics')]" });
  });

  it('creates the EscrowAudit_CL table on the Analytics plan with exactly the directoryAudit columns', () => {
    const table = onlyResourceOfType(infra.resources, 'Microsoft.OperationalInsights/workspaces/tables');
    expect(conditionOf(table)).toBe("[parameters('auditToLogAnalytics')]");
    expect(table.name).toMatch(/'EscrowAudit_CL'\)\]$/);
    expect(propertiesOf(table)).toEqual({ plan: 'Analytics', schema: { name: 'EscrowAudit_CL', columns: "[variables('auditColumns')]" } });
    expect(variable('auditColumns')).toEqual(COLUMNS);
  });

  it('sends through a Direct data collection rule whose stream declares the same columns, into that table unchanged', () => {
    const rule = onlyResourceOfType(infra.resources, 'Microsoft.Insights/dataCollectionRules');
    expect({ kind: rule.kind, apiVersion: rule.apiVersion, condition: conditionOf(rule) }).toEqual({
      kind: 'Direct',
      apiVersion: '2023-03-11',
      condition: "[parameters('auditToLogAnalytics')]",
    });
    expect(variable('auditStream')).toBe('Custom-EscrowAudit_CL');
    const properties = propertiesOf(rule);
    // The table's columns and the stream's are one list.
    expect(properties.streamDeclarations).toEqual({ 'Custom-EscrowAudit_CL': { columns: "[variables('auditColumns')]" } });
    expect(properties.destinations).toEqual({
      logAnalytics: [{ name: 'workspace', workspaceResourceId: "[resourceId('Microsoft.OperationalInsights/workspaces', format('log-escrow-{0}', parameters('resourceToken')))]" }],
    });
    expect(properties.dataFlows).toEqual([
      { streams: ["[variables('auditStream')]"], destinations: ['workspace'], transformKql: 'source', outputStream: "[variables('auditStream')]" },
    ]);
  });

  it("gives the app the rule's ingestion endpoint, immutable id and stream, and the right to send to it", () => {
    const settings = propertiesExpressionOf(onlyResourceOfType(infra.resources, 'Microsoft.Web/sites/config'));
    const rule = "reference(resourceId('Microsoft.Insights/dataCollectionRules', format('dcr-escrow-audit-{0}', parameters('resourceToken'))), '2023-03-11')";
    expect(settings).toContain(
      `if(parameters('auditToLogAnalytics'), createObject('AUDIT_LOGS_INGESTION_ENDPOINT', ${rule}.endpoints.logsIngestion, 'AUDIT_LOGS_RULE_ID', ${rule}.immutableId, 'AUDIT_LOGS_STREAM', variables('auditStream')), createObject())`,
    );
    const publisher = resourcesOfType(infra.resources, 'Microsoft.Authorization/roleAssignments').find(
      (assignment) => scopeTypeOf(assignment) === 'Microsoft.Insights/dataCollectionRules',
    );
    expect([roleOf(publisher!), principalOf(publisher!), conditionOf(publisher!)]).toEqual([
      'monitoringMetricsPublisher',
      'app identity',
      "[parameters('auditToLogAnalytics')]",
    ]);
  });

  it("has every column the Sentinel rules' queries read", () => {
    const template = JSON.parse(readFileSync(join(ROOT, 'infra', 'sentinel', 'escrowAuditAlerts.json'), 'utf8')) as {
      resources: { properties: { query: string } }[];
    };
    const columns = new Set(COLUMNS.map((column) => column.name));
    const KQL_WORDS = new Set(['let', 'where', 'and', 'or', 'extend', 'summarize', 'by', 'on', 'project', 'has', 'startswith', 'mv-apply']);
    const read = new Set<string>();
    for (const { properties } of template.resources) {
      const text = properties.query.replace(/@?"[^"]*"/g, '""');
      // Names the query defines (let x =, extend X =, summarize X =, mv-apply x =) are not columns.
      const defined = new Set([...text.matchAll(/([A-Za-z_]\w*)\s*=(?!=)/g)].map((m) => m[1]));
      // A column is a name neither a member (x.name), a function (name(...)), a keyword nor the table.
      for (const m of text.matchAll(/(?<![.\w-])([A-Za-z_][\w-]*)(?![\w-]|\s*\()/g)) {
        const name = m[1];
        if (!KQL_WORDS.has(name) && !defined.has(name) && name !== 'EscrowAudit_CL' && !/^\d/.test(name)) read.add(name);
      }
    }
    expect([...read].sort()).toEqual(
      [
        'TimeGenerated',
        'activityDisplayName',
        'additionalDetails',
        'correlationId',
        // Counted by it: the export delivers at least once.
        'id',
        'initiatedBy',
        'result',
        'resultReason',
        'targetResources',
      ],
    );
    for (const name of read) expect([name, columns.has(name)]).toEqual([name, true]);
  });
});

describe('alerts', () => {
  const rules = () => variable<LogAlert[]>('logAlerts');
  const rule = (name: string) => rules().find((candidate) => candidate.name === name)!;

  it('are log alert rules for 5xx, storage 503s, audit write failures and reveal spikes', () => {
    expect(rules().map((candidate) => [candidate.name, candidate.on])).toEqual([
      ['http-5xx', 'insights'],
      ['storage-503', 'insights'],
      ['audit-write', 'insights'],
      ['reveal-spike', 'audit'],
    ]);
    const resource = onlyResourceOfType(infra.resources, 'Microsoft.Insights/scheduledQueryRules');
    // The reveal rule reads EscrowAudit_CL, so it exists only with the table.
    expect(conditionOf(resource)).toBe("[or(equals(variables('logAlerts')[copyIndex()].on, 'insights'), parameters('auditToLogAnalytics'))]");
    expect(propertiesOf(resource).scopes).toEqual([
      "[if(equals(variables('logAlerts')[copyIndex()].on, 'audit'), resourceId('Microsoft.OperationalInsights/workspaces', format('log-escrow-{0}', parameters('resourceToken'))), resourceId('Microsoft.Insights/components', format('appi-escrow-{0}', parameters('resourceToken'))))]",
    ]);
    expect(propertiesOf(resource).actions).toEqual({ actionGroups: "[variables('alertActionGroups')]" });
    for (const { name, query, measure } of rules()) expect([name, query.includes(`${measure} =`)]).toEqual([name, true]);
  });

  it('count 5xx among HTTP requests, which are never sampled', () => {
    expect(rule('http-5xx').query).toContain('sumif(itemCount, toint(resultCode) >= 500)');
    const host = JSON.parse(readFileSync(join(ROOT, 'host.json'), 'utf8')) as {
      logging: { applicationInsights: { samplingSettings: { excludedTypes: string } } };
    };
    expect(host.logging.applicationInsights.samplingSettings.excludedTypes.split(';')).toContain('Request');
  });

  it("match the log lines the app writes: graphHandler's dependencyFailure, the audit trail's mark, the lost refusal summary", () => {
    const handler = readFileSync(join(ROOT, 'shared', 'http', 'handler.ts'), 'utf8');
    expect(handler).toContain("event: 'dependencyFailure', ...fields, status: error.status, cause: error.logDetails");
    expect(rule('storage-503').query).toContain('tostring(m.event) == "dependencyFailure" and toint(m.status) == 503');
    expect(rule('audit-write').query).toContain('isnotempty(tostring(m.cause.audit)) or tostring(m.event) == "refusalSummaryLost"');
    expect(readFileSync(join(ROOT, 'shared', 'audit', 'store.ts'), 'utf8')).toContain("audit: 'table' }");
    expect(readFileSync(join(ROOT, 'shared', 'audit', 'outbox.ts'), 'utf8')).toContain("audit: 'outbox'");
    expect(readFileSync(join(ROOT, 'shared', 'audit', 'refusalBudget.ts'), 'utf8')).toContain("event: 'refusalSummaryLost'");
  });

  it("count successful reads of a key's password by the activity name the audit trail records", () => {
    expect(rule('reveal-spike').query).toContain(`activityDisplayName == "${ACTIVITIES.read.displayName}" and result == "success"`);
    expect([rule('reveal-spike').window, rule('reveal-spike').threshold]).toEqual(['PT1H', 50]);
  });

  it('notify a new action group for an email address, an existing one by id, both or neither', () => {
    const group = onlyResourceOfType(infra.resources, 'Microsoft.Insights/actionGroups');
    expect(conditionOf(group)).toBe("[not(empty(parameters('alertEmail')))]");
    expect(propertiesOf(group).emailReceivers).toEqual([
      { name: 'operator', emailAddress: "[parameters('alertEmail')]", useCommonAlertSchema: true },
    ]);
    expect(variable('alertActionGroups')).toBe(
      "[concat(if(empty(parameters('alertEmail')), createArray(), createArray(resourceId('Microsoft.Insights/actionGroups', format('ag-escrow-{0}', parameters('resourceToken'))))), if(empty(parameters('alertActionGroupId')), createArray(), createArray(parameters('alertActionGroupId'))))]",
    );
    expect(infra.main.parameters.alertEmail).toMatchObject({ type: 'string', defaultValue: '' });
    expect(infra.main.parameters.alertActionGroupId).toMatchObject({ type: 'string', defaultValue: '' });
  });
});

describe('the availability test of /health', () => {
  it('is a standard test that expects 200 and the body GET /health answers when healthy', () => {
    const test = onlyResourceOfType(infra.resources, 'Microsoft.Insights/webtests');
    expect(test.kind).toBe('standard');
    const properties = propertiesOf(test) as { Request: Record<string, unknown>; ValidationRules: { ContentValidation: { ContentMatch: string } } } & Record<string, unknown>;
    expect(properties).toMatchObject({ Kind: 'standard', Enabled: true, Frequency: 300 });
    expect(properties.Request).toMatchObject({
      RequestUrl: "[format('https://{0}/health', reference(resourceId('Microsoft.Web/sites', format('func-escrow-{0}', parameters('resourceToken'))), '2024-04-01').defaultHostName)]",
      HttpVerb: 'GET',
    });
    expect(properties.ValidationRules).toMatchObject({ ExpectedHttpStatusCode: 200, SSLCheck: true });
    // functions/health.ts answers jsonResponse(…, 200, { status: 'healthy', checks }).
    expect(JSON.stringify({ status: 'healthy', checks: { storage: 'ok' } })).toContain(properties.ValidationRules.ContentValidation.ContentMatch);
    expect(readFileSync(join(ROOT, 'functions', 'health.ts'), 'utf8')).toContain("{ status: 'healthy', checks: report.checks }");
  });

  it('alerts when two locations fail', () => {
    const alert = onlyResourceOfType(infra.resources, 'Microsoft.Insights/metricAlerts');
    expect(propertiesOf(alert).criteria).toMatchObject({
      'odata.type': 'Microsoft.Azure.Monitor.WebtestLocationAvailabilityCriteria',
      failedLocationCount: 2,
    });
  });
});

describe('diagnostic settings', () => {
  it('send the tables, both accounts\' blobs and the Key Vault to the workspace, every log category', () => {
    const settings = resourcesOfType(infra.resources, 'Microsoft.Insights/diagnosticSettings');
    expect(settings.map((setting) => [scopeTypeOf(setting), /'(stescrow|stescrowbk|kv-escrow-)\{0\}'/.exec(setting.scope ?? '')?.[1]]).sort()).toEqual([
      ['Microsoft.KeyVault/vaults', 'kv-escrow-'],
      ['Microsoft.Storage/storageAccounts/blobServices', 'stescrow'],
      ['Microsoft.Storage/storageAccounts/blobServices', 'stescrowbk'],
      ['Microsoft.Storage/storageAccounts/tableServices', 'stescrow'],
    ]);
    const workspace = "[resourceId('Microsoft.OperationalInsights/workspaces', format('log-escrow-{0}', parameters('resourceToken')))]";
    expect(variable('storageDiagnostics')).toEqual({
      workspaceId: workspace,
      logs: [{ categoryGroup: 'allLogs', enabled: true }],
      metrics: [{ category: 'Transaction', enabled: true }],
    });
    const vault = settings.find((setting) => scopeTypeOf(setting) === 'Microsoft.KeyVault/vaults')!;
    expect(propertiesOf(vault)).toMatchObject({ workspaceId: workspace, logs: [{ categoryGroup: 'allLogs', enabled: true }] });
  });
});

describe('the private network option (privateNetwork)', () => {
  const ON = "[parameters('privateNetwork')]";

  it('is off by default', () => {
    expect(infra.main.parameters.privateNetwork).toMatchObject({ type: 'bool', defaultValue: false });
    expect(moduleParameters(infra.main).privateNetwork).toEqual({ value: ON });
  });

  it('turns public network access off on both storage accounts and the vault when on, and only then', () => {
    expect(variable('publicNetworkAccess')).toBe("[if(parameters('privateNetwork'), 'Disabled', 'Enabled')]");
    for (const resource of [storageAccount('stescrow'), storageAccount('stescrowbk'), onlyResourceOfType(infra.resources, 'Microsoft.KeyVault/vaults')]) {
      expect([resource.name, propertiesOf(resource).publicNetworkAccess]).toEqual([resource.name, "[variables('publicNetworkAccess')]"]);
    }
  });

  it("integrates the Function App into a subnet delegated to Flex Consumption's Microsoft.App/environments", () => {
    const site = onlyResourceOfType(infra.resources, 'Microsoft.Web/sites');
    expect(propertiesOf(site).virtualNetworkSubnetId).toBe(
      "[if(parameters('privateNetwork'), resourceId('Microsoft.Network/virtualNetworks/subnets', format('vnet-escrow-{0}', parameters('resourceToken')), 'app'), null())]",
    );
    const vnet = onlyResourceOfType(infra.resources, 'Microsoft.Network/virtualNetworks');
    expect(conditionOf(vnet)).toBe(ON);
    const subnets = propertiesOf(vnet).subnets as { name: string; properties: Record<string, unknown> }[];
    expect(subnets.map((subnet) => subnet.name)).toEqual(['app', 'private-endpoints']);
    expect(subnets[0].properties.delegations).toEqual([{ name: 'flex-consumption', properties: { serviceName: 'Microsoft.App/environments' } }]);
  });

  it('reaches the tables (and their secondary on RA SKUs), both accounts\' blobs and the vault through private endpoints and DNS zones', () => {
    expect(variable<{ name: string; account: string; group: string; zone: number }[]>('privateEndpointTargets').map((t) => [t.account, t.group, t.zone])).toEqual([
      ['storage', 'table', 0],
      ['storage', 'table_secondary', 0],
      ['storage', 'blob', 1],
      ['backup', 'blob', 1],
      ['vault', 'vault', 2],
    ]);
    expect(variable('privateDnsZoneNames')).toEqual([
      "[format('privatelink.table.{0}', environment().suffixes.storage)]",
      "[format('privatelink.blob.{0}', environment().suffixes.storage)]",
      'privatelink.vaultcore.azure.net',
    ]);
    expect(variable('readsSecondary')).toBe("[startsWith(parameters('storageSku'), 'Standard_RA')]");
    const endpoints = onlyResourceOfType(infra.resources, 'Microsoft.Network/privateEndpoints');
    const endpointCondition =
      "[and(parameters('privateNetwork'), or(not(equals(variables('privateEndpointTargets')[copyIndex()].group, 'table_secondary')), variables('readsSecondary')))]";
    expect(conditionOf(endpoints)).toBe(endpointCondition);
    expect(conditionOf(onlyResourceOfType(infra.resources, 'Microsoft.Network/privateEndpoints/privateDnsZoneGroups'))).toBe(endpointCondition);
    for (const type of ['Microsoft.Network/privateDnsZones', 'Microsoft.Network/privateDnsZones/virtualNetworkLinks']) {
      expect([type, conditionOf(onlyResourceOfType(infra.resources, type))]).toEqual([type, ON]);
    }
  });
});
