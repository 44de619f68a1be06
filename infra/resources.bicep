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

var keyringSecretName = 'escrow-encryption-keys'
var deploymentContainerName = 'app-package'

// Built-in role definition ids (the same in every tenant; learn.microsoft.com/azure/role-based-access-control/built-in-roles).
var roles = {
  storageBlobDataOwner: 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b'
  storageTableDataContributor: '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3'
  keyVaultSecretsUser: '4633458b-17de-408a-b874-0445c86b69e6'
  keyVaultSecretsOfficer: 'b86a8fe4-44ce-4948-aee5-eccb2c155cd7'
  monitoringMetricsPublisher: '3913510d-42f4-4e42-8a64-420c390055eb'
}

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
  sku: { name: storageSku } // ZRS by default: every write is data that must never be lost
  properties: {
    allowSharedKeyAccess: false // Entra ID only: no account key, SAS or connection string works
    allowBlobPublicAccess: false
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    defaultToOAuthAuthentication: true
    publicNetworkAccess: 'Enabled' // restrict with networkAcls + VNet integration where policy requires
  }

  resource blobServices 'blobServices' = {
    name: 'default'
    resource deploymentContainer 'containers' = {
      name: deploymentContainerName
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
    publicNetworkAccess: 'Enabled'
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
        AZURE_CLIENT_ID: identity.properties.clientId // DefaultAzureCredential: use the user-assigned identity
        // No version in the URI: the app picks up the latest secret version on restart.
        ENCRYPTION_KEYS: '@Microsoft.KeyVault(SecretUri=${vault.properties.vaultUri}secrets/${keyringSecretName}/)'
        ENCRYPTION_ACTIVE_KEY: encryptionActiveKey
      },
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

output functionAppName string = app.name
output functionAppUrl string = 'https://${app.properties.defaultHostName}'
output identityPrincipalId string = identity.properties.principalId
output identityName string = identity.name
output keyVaultName string = vault.name
output keyringSecretName string = keyringSecretName
output keyringAdminRoleAssignmentId string = empty(keyringAdmin) ? '' : adminSecrets.id
