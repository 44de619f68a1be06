// Everything the escrow runs on, in one resource group. Property names are from the Bicep reference
// of each type (learn.microsoft.com/azure/templates/<type>); API versions are ones that reference lists.
//
// Hosting: Flex Consumption (FC1). Why not Premium: the load is small and bursty (devices escrow
// after encryption, helpdesk reads a few keys an hour), so paying per execution and scaling to zero
// beats Premium's always-on instances; Flex still gives identity-based deployment storage and
// AzureWebJobsStorage, Node 22, VNet integration and up to 1000 instances. Its cost is cold starts
// (a few seconds on the first request after idle); if that matters, set `alwaysReady` for the
// http group (functionAppConfig.scaleAndConcurrency.alwaysReady), or move to Premium (EP1) for
// always-warm instances, deployment slots and App Service health-check eviction.
//
// Identity: one user-assigned managed identity for the Functions host (AzureWebJobsStorage, the
// deployment package), the app (its tables, through DefaultAzureCredential with AZURE_CLIENT_ID),
// Key Vault references and Application Insights. No keys or connection strings anywhere: shared-key
// access is off on the storage account, local auth off on Application Insights.

param location string
param tags object
param resourceToken string
param storageSku string
param authTenantId string
param authAudience string
param encryptionActiveKey string
@description('Operator-chosen app settings (main.bicep appSettings, empty values already dropped).')
param optionalAppSettings object
@description('{ principalId, principalType } to grant Key Vault Secrets Officer on the vault; {} for none.')
param keyringAdmin object
@description('Days a backup snapshot (and an audit-outbox blob) is kept immutable and recoverable after deletion.')
@minValue(1)
param backupRetentionDays int
@description('Email address the alert rules notify through a new action group; empty for none.')
param alertEmail string
@description('Resource id of an existing action group the alert rules notify; empty for none.')
param alertActionGroupId string
@description('Storage and Key Vault reachable only through private endpoints in a VNet the Function App is integrated into.')
param privateNetwork bool
@description('The audit trail\'s Log Analytics table, its data collection rule and the app settings that send to it.')
param auditToLogAnalytics bool

var keyringSecretName = 'escrow-encryption-keys'
var backupContainerName = 'escrow-backups'
var deploymentContainerName = 'app-package'

// Built-in role definition ids (the same in every tenant; learn.microsoft.com/azure/role-based-access-control/built-in-roles).
var roles = {
  storageBlobDataOwner: 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b'
  storageTableDataContributor: '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3'
  keyVaultSecretsUser: '4633458b-17de-408a-b874-0445c86b69e6'
  keyVaultSecretsOfficer: 'b86a8fe4-44ce-4948-aee5-eccb2c155cd7'
  monitoringMetricsPublisher: '3913510d-42f4-4e42-8a64-420c390055eb'
  storageBlobDataContributor: 'ba92f5b4-2d11-453d-a403-e96b0029c9fe'
}

// With privateNetwork, nothing that holds keys, backups or the keyring answers from the internet.
var publicNetworkAccess = privateNetwork ? 'Disabled' : 'Enabled'

// ---------------------------------------------------------------------------------------------
// Identity

resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: 'id-escrow-${resourceToken}'
  location: location
  tags: tags
}

// ---------------------------------------------------------------------------------------------
// Storage: the Functions host's own (AzureWebJobsStorage: host keys, leases, the deployment package)
// and the app's tables (RecoveryKeys, DeviceIndex, AuditLog), reached by identity only.

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  name: 'stescrow${resourceToken}'
  location: location
  tags: tags
  kind: 'StorageV2'
  sku: { name: storageSku } // RA-GZRS by default: zones, a second region, and reads from it (STORAGE_SECONDARY_TABLE_ENDPOINT)
  properties: {
    allowSharedKeyAccess: false // Entra ID only: no account key, SAS or connection string works
    allowBlobPublicAccess: false
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    defaultToOAuthAuthentication: true
    publicNetworkAccess: publicNetworkAccess // privateNetwork: only through the private endpoints below
  }

  resource blobServices 'blobServices' = {
    name: 'default'
    resource deploymentContainer 'containers' = {
      name: deploymentContainerName
    }
  }
}

// The escrow's backups (npm run backup, the backup timer) and the reveal audit outbox, in an account of
// their own: a deleted, ransomed or unreachable tables account does not take them along. Versioned,
// with a time-based immutability policy on the container, so that whoever holds the app's identity can
// add snapshots but cannot rewrite or delete one before it expires. Protected append writes: the audit
// outbox appends to its blobs.
resource backupStorage 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  name: 'stescrowbk${resourceToken}'
  location: location
  tags: tags
  kind: 'StorageV2'
  sku: { name: 'Standard_RAGZRS' }
  properties: {
    allowSharedKeyAccess: false
    allowBlobPublicAccess: false
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    defaultToOAuthAuthentication: true
    publicNetworkAccess: publicNetworkAccess
  }

  resource blobServices 'blobServices' = {
    name: 'default'
    properties: {
      isVersioningEnabled: true
      deleteRetentionPolicy: { enabled: true, days: backupRetentionDays }
      containerDeleteRetentionPolicy: { enabled: true, days: backupRetentionDays }
    }
    resource backups 'containers' = {
      name: backupContainerName
      properties: { publicAccess: 'None', immutableStorageWithVersioning: { enabled: true } }
      // Unlocked, so that a first deployment can still correct the period; lock it once it is right
      // (docs/operations.md).
      resource retention 'immutabilityPolicies' = {
        name: 'default'
        properties: { immutabilityPeriodSinceCreationInDays: backupRetentionDays, allowProtectedAppendWrites: true }
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Key Vault: the encryption keyring (ENCRYPTION_KEYS) as one secret, authorized by Azure RBAC.

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' = {
  name: 'kv-escrow-${resourceToken}'
  location: location
  tags: tags
  properties: {
    tenantId: subscription().tenantId
    sku: { family: 'A', name: 'standard' }
    enableRbacAuthorization: true // no access policies: role assignments below are the only access
    enableSoftDelete: true
    softDeleteRetentionInDays: 90
    enablePurgeProtection: true // a deleted keyring can be recovered, never purged early: without it no stored key decrypts
    publicNetworkAccess: publicNetworkAccess
  }
}

// ---------------------------------------------------------------------------------------------
// Delete locks: the storage account holds every escrowed key (tables have no soft delete) and the
// vault the only keyring that decrypts them. `azd down` deletes the resource group; with these locks
// it fails instead, and removing a lock is a deliberate, audited act (docs/deployment.md says how).

resource storageLock 'Microsoft.Authorization/locks@2020-05-01' = {
  name: 'escrow-data-no-delete'
  scope: storage
  properties: {
    level: 'CanNotDelete'
    notes: 'Holds every escrowed BitLocker recovery key. Remove only to retire the escrow on purpose.'
  }
}

resource backupLock 'Microsoft.Authorization/locks@2020-05-01' = {
  name: 'escrow-backups-no-delete'
  scope: backupStorage
  properties: {
    level: 'CanNotDelete'
    notes: 'Holds the backups of every escrowed BitLocker recovery key. Remove only to retire the escrow on purpose.'
  }
}

resource vaultLock 'Microsoft.Authorization/locks@2020-05-01' = {
  name: 'escrow-keyring-no-delete'
  scope: vault
  properties: {
    level: 'CanNotDelete'
    notes: 'Holds the keyring that decrypts every escrowed key. Remove only to retire the escrow on purpose.'
  }
}

// ---------------------------------------------------------------------------------------------
// Monitoring: Application Insights on a Log Analytics workspace, Entra-authenticated ingestion only.

resource logs 'Microsoft.OperationalInsights/workspaces@2023-09-01' = {
  name: 'log-escrow-${resourceToken}'
  location: location
  tags: tags
  properties: {
    sku: { name: 'PerGB2018' }
    retentionInDays: 90
  }
}

resource insights 'Microsoft.Insights/components@2020-02-02' = {
  name: 'appi-escrow-${resourceToken}'
  location: location
  tags: tags
  kind: 'web'
  properties: {
    Application_Type: 'web'
    WorkspaceResourceId: logs.id
    DisableLocalAuth: true // telemetry only with the identity's token (APPLICATIONINSIGHTS_AUTHENTICATION_STRING)
  }
}

// ---------------------------------------------------------------------------------------------
// The Function App

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  name: 'plan-escrow-${resourceToken}'
  location: location
  tags: tags
  kind: 'functionapp'
  sku: { name: 'FC1', tier: 'FlexConsumption' }
  properties: { reserved: true } // Linux
}

resource app 'Microsoft.Web/sites@2024-04-01' = {
  name: 'func-escrow-${resourceToken}'
  location: location
  tags: union(tags, { 'azd-service-name': 'api' }) // azure.yaml's service `api` deploys here
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: { '${identity.id}': {} }
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    // Flex Consumption: outbound traffic through the delegated subnet, where the private endpoints are.
    virtualNetworkSubnetId: privateNetwork ? vnet::appSubnet.id : null
    keyVaultReferenceIdentity: identity.id // Key Vault references resolve with the user-assigned identity
    siteConfig: {
      minTlsVersion: '1.2'
      scmMinTlsVersion: '1.2'
      ftpsState: 'Disabled'
    }
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${storage.properties.primaryEndpoints.blob}${deploymentContainerName}'
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: identity.id
          }
        }
      }
      scaleAndConcurrency: {
        instanceMemoryMB: 2048
        maximumInstanceCount: 40 // a ceiling on cost and on load against storage; raise with care
      }
      // Node 22: Flex Consumption offers it (Get-AzFunctionAppFlexConsumptionRuntime lists node 22),
      // and Node 20's community support ended on 2026-04-30.
      runtime: { name: 'node', version: '22' }
    }
  }

  resource settings 'config' = {
    name: 'appsettings'
    properties: union(
      {
        // The Functions host's storage, by identity (no connection string).
        AzureWebJobsStorage__accountName: storage.name
        AzureWebJobsStorage__credential: 'managedidentity'
        AzureWebJobsStorage__clientId: identity.properties.clientId
        APPLICATIONINSIGHTS_CONNECTION_STRING: insights.properties.ConnectionString
        APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'ClientId=${identity.properties.clientId};Authorization=AAD'
        // The app (shared/config.ts).
        AUTH_MODE: 'entra'
        AUTH_TENANT_ID: authTenantId
        AUTH_AUDIENCE: authAudience
        STORAGE_TABLE_ENDPOINT: storage.properties.primaryEndpoints.table
        BACKUP_BLOB_ENDPOINT: backupStorage.properties.primaryEndpoints.blob
        BACKUP_SCHEDULE: '0 0 3 * * *' // daily at 03:00 UTC; an azd env BACKUP_SCHEDULE replaces it
        AZURE_CLIENT_ID: identity.properties.clientId // DefaultAzureCredential: use the user-assigned identity
        // No version in the URI: the app picks up the latest secret version on restart.
        ENCRYPTION_KEYS: '@Microsoft.KeyVault(SecretUri=${vault.properties.vaultUri}secrets/${keyringSecretName}/)'
        ENCRYPTION_ACTIVE_KEY: encryptionActiveKey
      },
      // Where the app sends audit records (Logs Ingestion API): the rule's own endpoint, id and stream.
      auditToLogAnalytics
        ? {
            AUDIT_LOGS_INGESTION_ENDPOINT: auditRule!.properties.endpoints.logsIngestion
            AUDIT_LOGS_RULE_ID: auditRule!.properties.immutableId
            AUDIT_LOGS_STREAM: auditStream
          }
        : {},
      optionalAppSettings
    )
  }

  // FTP and basic-auth (publishing profile) deployment off: deployments use Entra ID only.
  resource ftp 'basicPublishingCredentialsPolicies' = {
    name: 'ftp'
    properties: { allow: false }
  }
  resource scm 'basicPublishingCredentialsPolicies' = {
    name: 'scm'
    properties: { allow: false }
  }
}

// ---------------------------------------------------------------------------------------------
// Role assignments: what each principal needs and no more, each at the narrowest scope that works.
// Not granted: Storage Queue Data Contributor (only queue- and blob-triggered functions need it; this
// app has HTTP triggers only), Storage Account Contributor or any key-listing role, Key Vault
// anything beyond reading secrets for the app.

// Functions host: keys, leases and the deployment package live in blobs.
resource hostBlob 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(storage.id, identity.id, roles.storageBlobDataOwner)
  scope: storage
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageBlobDataOwner)
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
  }
}

// The app: read and write its tables (and create them on first use).
resource appTables 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(storage.id, identity.id, roles.storageTableDataContributor)
  scope: storage
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageTableDataContributor)
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
  }
}

// Key Vault reference: read the keyring secret (scoped to the vault; a per-secret scope would break
// on first provision, before the secret exists).
resource appSecrets 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(vault.id, identity.id, roles.keyVaultSecretsUser)
  scope: vault
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.keyVaultSecretsUser)
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
  }
}

// Telemetry into Application Insights with local auth off.
resource appTelemetry 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(insights.id, identity.id, roles.monitoringMetricsPublisher)
  scope: insights
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.monitoringMetricsPublisher)
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
  }
}

// The app: write backups and the audit outbox into their container, and nowhere else in that account.
resource appBackups 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(backupStorage::blobServices::backups.id, identity.id, roles.storageBlobDataContributor)
  scope: backupStorage::blobServices::backups
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageBlobDataContributor)
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
  }
}

// The app: send audit records to the audit trail's data collection rule (Logs Ingestion API).
resource appAuditExport 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (auditToLogAnalytics) {
  name: guid(auditRule.id, identity.id, roles.monitoringMetricsPublisher)
  scope: auditRule
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.monitoringMetricsPublisher)
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
  }
}

// Whoever provisions, only when asked (grantKeyringAdmin): create the keyring secret once
// (infra/scripts/ensure-keyring.sh), which then deletes this assignment again. Never standing: with
// it and table read access one could decrypt every key outside the audited $select=key path.
resource adminSecrets 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!empty(keyringAdmin)) {
  name: guid(vault.id, keyringAdmin.?principalId ?? '', roles.keyVaultSecretsOfficer)
  scope: vault
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.keyVaultSecretsOfficer)
    principalId: keyringAdmin.?principalId ?? ''
    // Without it ARM may look a freshly created service principal up before it has replicated.
    principalType: keyringAdmin.?principalType ?? 'User'
  }
}

// ---------------------------------------------------------------------------------------------
// The audit trail in Log Analytics: a custom table and a Direct data collection rule the app sends
// audit records to (Logs Ingestion API), as Graph's directoryAudit records, one row each. Microsoft
// Sentinel's rules (infra/sentinel/escrowAuditAlerts.json) and the reveal alert below read it.

var auditStream = 'Custom-EscrowAudit_CL'
// The table's columns and the stream's, the same list: the rule's transformation is `source`.
var auditColumns = [
  { name: 'TimeGenerated', type: 'datetime' }
  { name: 'id', type: 'string' }
  { name: 'category', type: 'string' }
  { name: 'correlationId', type: 'string' }
  { name: 'activityDisplayName', type: 'string' }
  { name: 'activityDateTime', type: 'datetime' }
  { name: 'operationType', type: 'string' }
  { name: 'loggedByService', type: 'string' }
  { name: 'result', type: 'string' }
  { name: 'resultReason', type: 'string' }
  { name: 'initiatedBy', type: 'dynamic' }
  { name: 'targetResources', type: 'dynamic' }
  { name: 'additionalDetails', type: 'dynamic' }
]

resource auditTable 'Microsoft.OperationalInsights/workspaces/tables@2022-10-01' = if (auditToLogAnalytics) {
  parent: logs
  name: 'EscrowAudit_CL'
  properties: {
    plan: 'Analytics' // Sentinel analytics rules and log alerts run only on Analytics tables
    schema: { name: 'EscrowAudit_CL', columns: auditColumns }
  }
}

// Kind Direct: the rule has its own logs-ingestion endpoint, no data collection endpoint needed.
resource auditRule 'Microsoft.Insights/dataCollectionRules@2023-03-11' = if (auditToLogAnalytics) {
  name: 'dcr-escrow-audit-${resourceToken}'
  location: location
  tags: tags
  kind: 'Direct'
  properties: {
    streamDeclarations: { 'Custom-EscrowAudit_CL': { columns: auditColumns } } // auditStream
    destinations: { logAnalytics: [{ name: 'workspace', workspaceResourceId: logs.id }] }
    dataFlows: [{ streams: [auditStream], destinations: ['workspace'], transformKql: 'source', outputStream: auditStream }]
  }
  // The rule's output stream must name a table that exists.
  dependsOn: [auditTable]
}

// ---------------------------------------------------------------------------------------------
// Diagnostic settings: who touched the tables, blobs and keyring, and how storage answered, in the
// workspace (StorageTableLogs, StorageBlobLogs, AZKVAuditLogs; docs/operations.md has queries).

resource storageTables 'Microsoft.Storage/storageAccounts/tableServices@2023-05-01' existing = {
  parent: storage
  name: 'default'
}

var storageDiagnostics = {
  workspaceId: logs.id
  logs: [{ categoryGroup: 'allLogs', enabled: true }]
  metrics: [{ category: 'Transaction', enabled: true }]
}

resource tableDiagnostics 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'to-log-analytics'
  scope: storageTables
  properties: storageDiagnostics
}

resource blobDiagnostics 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'to-log-analytics'
  scope: storage::blobServices
  properties: storageDiagnostics
}

resource backupDiagnostics 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'to-log-analytics'
  scope: backupStorage::blobServices
  properties: storageDiagnostics
}

resource vaultDiagnostics 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'to-log-analytics'
  scope: vault
  properties: {
    workspaceId: logs.id
    logAnalyticsDestinationType: 'Dedicated' // AZKVAuditLogs rather than AzureDiagnostics
    logs: [{ categoryGroup: 'allLogs', enabled: true }]
    metrics: [{ category: 'AllMetrics', enabled: true }]
  }
}

// ---------------------------------------------------------------------------------------------
// Alerts. Each log alert reads a line the app really writes (shared/http/handler.ts, shared/audit/)
// or the audit table above; docs/operations.md names the signal of each. Sampled telemetry counts
// by itemCount, so a sampled line still counts for the lines it stands for.

resource actionGroup 'Microsoft.Insights/actionGroups@2023-01-01' = if (!empty(alertEmail)) {
  name: 'ag-escrow-${resourceToken}'
  location: 'global'
  tags: tags
  properties: {
    groupShortName: 'escrow'
    enabled: true
    emailReceivers: [{ name: 'operator', emailAddress: alertEmail, useCommonAlertSchema: true }]
  }
}

var alertActionGroups = concat(empty(alertEmail) ? [] : [actionGroup.id], empty(alertActionGroupId) ? [] : [alertActionGroupId])

// on: 'insights' (Application Insights: requests, traces) or 'audit' (the workspace's EscrowAudit_CL).
var logAlerts = [
  {
    name: 'http-5xx'
    displayName: 'BitLocker escrow: 5xx answers above 5% of requests'
    description: 'More than 5% of HTTP requests answered 5xx over 15 minutes (at least 20 requests): storage, the keyring or a bug. Requests are not sampled (host.json).'
    severity: 1
    on: 'insights'
    frequency: 'PT5M'
    window: 'PT15M'
    query: '''
requests
| where isnotempty(url)
| summarize Requests = sum(itemCount), Failed = sumif(itemCount, toint(resultCode) >= 500)
| where Requests >= 20
| extend FailedPercent = 100.0 * Failed / Requests
'''
    measure: 'FailedPercent'
    threshold: 5
  }
  {
    name: 'storage-503'
    displayName: 'BitLocker escrow: 503s caused by storage'
    description: 'Requests answered 503 because a storage call failed (unreachable, throttled, refused the identity): the dependencyFailure lines of graphHandler, with the failed call and its code.'
    severity: 2
    on: 'insights'
    frequency: 'PT5M'
    window: 'PT15M'
    query: '''
traces
| where message has "dependencyFailure"
| extend m = parse_json(message)
| where tostring(m.event) == "dependencyFailure" and toint(m.status) == 503
| summarize Failures = sum(itemCount)
'''
    measure: 'Failures'
    threshold: 10
  }
  {
    name: 'audit-write'
    displayName: 'BitLocker escrow: audit records could not be written'
    description: 'An operation was refused because its audit record could not be stored (the audit table, or the audit outbox during an outage), or a minute of counted refusals was lost.'
    severity: 1
    on: 'insights'
    frequency: 'PT5M'
    window: 'PT15M'
    query: '''
traces
| where message has "dependencyFailure" or message has "refusalSummaryLost"
| extend m = parse_json(message)
| where isnotempty(tostring(m.cause.audit)) or tostring(m.event) == "refusalSummaryLost"
| summarize Failures = sum(itemCount)
'''
    measure: 'Failures'
    threshold: 0
  }
  {
    name: 'reveal-spike'
    displayName: 'BitLocker escrow: many recovery keys revealed in an hour'
    description: 'More than 50 successful key reads ($select=key) by anyone in the last hour, from the audit trail in EscrowAudit_CL, each event counted once by id (the export delivers at least once). Per identity: the Sentinel rules (infra/sentinel).'
    severity: 2
    on: 'audit'
    frequency: 'PT15M'
    window: 'PT1H'
    query: '''
EscrowAudit_CL
| where activityDisplayName == "Read BitLocker key" and result == "success"
| summarize Reveals = dcount(id)
'''
    measure: 'Reveals'
    threshold: 50
  }
]

resource logAlertRules 'Microsoft.Insights/scheduledQueryRules@2023-12-01' = [
  for rule in logAlerts: if (rule.on == 'insights' || auditToLogAnalytics) {
    name: 'alert-escrow-${rule.name}-${resourceToken}'
    location: location
    tags: tags
    properties: {
      displayName: rule.displayName
      description: rule.description
      severity: rule.severity
      enabled: true
      scopes: [rule.on == 'audit' ? logs.id : insights.id]
      evaluationFrequency: rule.frequency
      windowSize: rule.window
      criteria: {
        allOf: [
          {
            query: rule.query
            timeAggregation: 'Maximum'
            metricMeasureColumn: rule.measure
            operator: 'GreaterThan'
            threshold: rule.threshold
            failingPeriods: { numberOfEvaluationPeriods: 1, minFailingPeriodsToAlert: 1 }
          }
        ]
      }
      autoMitigate: true
      actions: { actionGroups: alertActionGroups }
    }
    // The reveal rule's query names EscrowAudit_CL, which must exist when the rule is validated.
    dependsOn: [auditTable]
  }
]

// An availability test of GET /health from five regions every five minutes: healthy means 200 with
// {"status":"healthy",…} (storage answered, the keyring round-trips, authentication is configured).
resource healthTest 'Microsoft.Insights/webtests@2022-06-15' = {
  name: 'webtest-escrow-health-${resourceToken}'
  location: location
  // The portal shows a test under the component it is tagged with.
  tags: union(tags, { 'hidden-link:${insights.id}': 'Resource' })
  kind: 'standard'
  properties: {
    SyntheticMonitorId: 'webtest-escrow-health-${resourceToken}'
    Name: 'escrow /health'
    Description: 'GET /health answers 200 healthy'
    Enabled: true
    Frequency: 300
    Timeout: 30
    Kind: 'standard'
    RetryEnabled: true
    // Azure's availability-test location ids: East US, West US, West Europe, North Europe, Southeast Asia.
    Locations: [
      { Id: 'us-va-ash-azr' }
      { Id: 'us-ca-sjc-azr' }
      { Id: 'emea-nl-ams-azr' }
      { Id: 'emea-gb-db3-azr' }
      { Id: 'apac-sg-sin-azr' }
    ]
    Request: {
      RequestUrl: 'https://${app.properties.defaultHostName}/health'
      HttpVerb: 'GET'
      ParseDependentRequests: false
    }
    ValidationRules: {
      ExpectedHttpStatusCode: 200
      SSLCheck: true
      SSLCertRemainingLifetimeCheck: 7
      ContentValidation: { ContentMatch: '"status":"healthy"', IgnoreCase: false, PassIfTextFound: true }
    }
  }
}

resource healthAlert 'Microsoft.Insights/metricAlerts@2018-03-01' = {
  name: 'alert-escrow-health-${resourceToken}'
  location: 'global'
  tags: union(tags, { 'hidden-link:${insights.id}': 'Resource', 'hidden-link:${healthTest.id}': 'Resource' })
  properties: {
    description: 'GET /health failed from at least 2 of 5 test locations: the service is down or unhealthy (its 503 names the dependency).'
    severity: 1
    enabled: true
    scopes: [healthTest.id, insights.id]
    evaluationFrequency: 'PT1M'
    windowSize: 'PT5M'
    criteria: {
      'odata.type': 'Microsoft.Azure.Monitor.WebtestLocationAvailabilityCriteria'
      webTestId: healthTest.id
      componentId: insights.id
      failedLocationCount: 2
    }
    autoMitigate: true
    actions: [for group in alertActionGroups: { actionGroupId: group }]
  }
}

// ---------------------------------------------------------------------------------------------
// Private network (privateNetwork): a VNet with a subnet delegated to Flex Consumption (the app's
// outbound traffic) and one for private endpoints to the tables, the blobs of both accounts (host
// storage, deployment package, backups, audit outbox) and the Key Vault, each resolved through a
// private DNS zone linked to the VNet. Layout after Azure-Samples/functions-quickstart-typescript-azd.

resource vnet 'Microsoft.Network/virtualNetworks@2024-05-01' = if (privateNetwork) {
  name: 'vnet-escrow-${resourceToken}'
  location: location
  tags: tags
  properties: {
    addressSpace: { addressPrefixes: ['10.0.0.0/16'] }
    subnets: [
      {
        name: 'app'
        properties: {
          addressPrefix: '10.0.1.0/24'
          // Flex Consumption integrates through Microsoft.App/environments, not Microsoft.Web/serverFarms.
          delegations: [{ name: 'flex-consumption', properties: { serviceName: 'Microsoft.App/environments' } }]
          // Graph, Entra ID, Application Insights and the logs-ingestion endpoint are reached over the internet.
          defaultOutboundAccess: true
        }
      }
      {
        name: 'private-endpoints'
        properties: {
          addressPrefix: '10.0.2.0/24'
          privateEndpointNetworkPolicies: 'Disabled'
        }
      }
    ]
  }

  resource appSubnet 'subnets' existing = {
    name: 'app'
  }

  resource endpointSubnet 'subnets' existing = {
    name: 'private-endpoints'
  }
}

// Key Vault's private link zone has no suffix in environment(); this is the public cloud's.
var privateDnsZoneNames = [
  'privatelink.table.${environment().suffixes.storage}'
  'privatelink.blob.${environment().suffixes.storage}'
  'privatelink.vaultcore.azure.net'
]

resource privateZones 'Microsoft.Network/privateDnsZones@2020-06-01' = [
  for zone in privateDnsZoneNames: if (privateNetwork) {
    name: zone
    location: 'global'
    tags: tags
  }
]

resource privateZoneLinks 'Microsoft.Network/privateDnsZones/virtualNetworkLinks@2020-06-01' = [
  for (zone, i) in privateDnsZoneNames: if (privateNetwork) {
    parent: privateZones[i]
    name: 'vnet-escrow'
    location: 'global'
    tags: tags
    properties: {
      registrationEnabled: false
      virtualNetwork: { id: vnet.id }
    }
  }
]

// account: which resource the endpoint reaches; zone: index in privateDnsZoneNames. The secondary
// table endpoint (key reads during a regional outage) has an endpoint of its own, only where the SKU
// reads from the second region (RA-GRS, RA-GZRS).
var privateEndpointTargets = [
  { name: 'table', account: 'storage', group: 'table', zone: 0 }
  { name: 'table-secondary', account: 'storage', group: 'table_secondary', zone: 0 }
  { name: 'blob', account: 'storage', group: 'blob', zone: 1 }
  { name: 'backup-blob', account: 'backup', group: 'blob', zone: 1 }
  { name: 'vault', account: 'vault', group: 'vault', zone: 2 }
]
var readsSecondary = startsWith(storageSku, 'Standard_RA')

resource privateEndpoints 'Microsoft.Network/privateEndpoints@2024-05-01' = [
  for target in privateEndpointTargets: if (privateNetwork && (target.group != 'table_secondary' || readsSecondary)) {
    name: 'pe-escrow-${target.name}-${resourceToken}'
    location: location
    tags: tags
    properties: {
      subnet: { id: vnet::endpointSubnet.id }
      privateLinkServiceConnections: [
        {
          name: target.name
          properties: {
            privateLinkServiceId: target.account == 'vault' ? vault.id : target.account == 'backup' ? backupStorage.id : storage.id
            groupIds: [target.group]
          }
        }
      ]
    }
  }
]

resource privateEndpointZones 'Microsoft.Network/privateEndpoints/privateDnsZoneGroups@2024-05-01' = [
  for (target, i) in privateEndpointTargets: if (privateNetwork && (target.group != 'table_secondary' || readsSecondary)) {
    parent: privateEndpoints[i]
    name: 'default'
    properties: {
      privateDnsZoneConfigs: [{ name: 'zone', properties: { privateDnsZoneId: privateZones[target.zone].id } }]
    }
  }
]

output functionAppName string = app.name
output functionAppUrl string = 'https://${app.properties.defaultHostName}'
output identityPrincipalId string = identity.properties.principalId
output identityName string = identity.name
output keyVaultName string = vault.name
output keyringSecretName string = keyringSecretName
output keyringAdminRoleAssignmentId string = empty(keyringAdmin) ? '' : adminSecrets.id
