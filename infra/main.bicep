// The BitLocker key escrow on Azure: a resource group and everything in it (resources.bicep).
// Written from the resource types' Bicep reference (learn.microsoft.com/azure/templates/...) and the
// layout of Azure-Samples/functions-quickstart-typescript-azd. `npm run infra:build` lints and compiles
// it (bicepconfig.json: every linter finding is an error); it has not been deployed from this project.
//
// Every app setting an operator may choose is a parameter here, fed from `azd env` by
// main.parameters.json: `azd provision` writes the whole app-settings list on every run (a PUT that
// replaces it), so a setting made by hand in the portal would be wiped by the next provision.

targetScope = 'subscription'

@minLength(1)
@maxLength(64)
@description('azd environment name; part of every resource name.')
param environmentName string

// The regions that offer Flex Consumption, as Azure-Samples/functions-quickstart-typescript-azd lists
// them (its canary region left out); `az functionapp list-flexconsumption-locations` is the live list.
@minLength(1)
@description('Region of every resource; one that offers Flex Consumption.')
@allowed([
  'australiaeast'
  'australiasoutheast'
  'brazilsouth'
  'canadacentral'
  'centralindia'
  'centralus'
  'eastasia'
  'eastus'
  'eastus2'
  'francecentral'
  'germanywestcentral'
  'italynorth'
  'japaneast'
  'koreacentral'
  'northcentralus'
  'northeurope'
  'norwayeast'
  'southafricanorth'
  'southcentralus'
  'southeastasia'
  'southindia'
  'spaincentral'
  'swedencentral'
  'uaenorth'
  'uksouth'
  'ukwest'
  'westcentralus'
  'westeurope'
  'westus'
  'westus2'
  'westus3'
])
@metadata({ azd: { type: 'location' } })
param location string

@description('Redundancy of the storage account that holds every escrowed key. RAGZRS (the default): zones, a second region, and key reads from it during a regional outage; ZRS/GZRS without reads from the second region; LRS/GRS where zones are not offered.')
@allowed([
  'Standard_ZRS'
  'Standard_GZRS'
  'Standard_RAGZRS'
  'Standard_LRS'
  'Standard_GRS'
  'Standard_RAGRS'
])
param storageSku string = 'Standard_RAGZRS'

@description('Days each backup snapshot stays immutable and recoverable: BACKUP_RETENTION_DAYS.')
@minValue(1)
param backupRetentionDays int = 35

@description('Entra ID tenant (GUID) whose tokens the API accepts: AUTH_TENANT_ID. Empty: the deployment\'s tenant.')
param authTenantId string = ''

@description('The API\'s audience: its Application ID URI and/or client id, comma-separated (AUTH_AUDIENCE).')
param authAudience string

@description('ENCRYPTION_ACTIVE_KEY: the keyring version new writes use; ensure-keyring.sh creates it on first provision.')
param encryptionActiveKey string = 'v1'

// A plain object, not a user-defined type: azd reads each parameter's ARM `type` to convert the
// values it substitutes, and a typed object compiles to a `$ref` without one.
@description('Optional app settings (docs/configuration.md), each from the azd env variable of the same name (main.parameters.json lists them). An empty value leaves the setting out, so the app\'s default applies.')
param appSettings object = {}

@description('Object id of who runs the provisioning (azd sets AZURE_PRINCIPAL_ID).')
param provisioningPrincipalId string = ''

@description('User or ServicePrincipal: the kind of provisioningPrincipalId (azd sets AZURE_PRINCIPAL_TYPE).')
@allowed([
  'User'
  'ServicePrincipal'
  'Group'
])
param provisioningPrincipalType string = 'User'

@description('Email address the alert rules notify (a new action group); empty for none.')
param alertEmail string = ''

@description('Resource id of an existing action group the alert rules notify as well; empty for none.')
param alertActionGroupId string = ''

@description('Keep both storage accounts and the Key Vault off the public network: a VNet, the Function App integrated into it, private endpoints and private DNS zones. Data-plane access from outside the VNet (the keyring hook, npm run backup/restore from a workstation) stops working: docs/deployment.md.')
param privateNetwork bool = false

@description('Create the EscrowAudit_CL table and a data collection rule, and give the app AUDIT_LOGS_* settings, so that the audit trail goes to the Log Analytics workspace (what Microsoft Sentinel reads).')
param auditToLogAnalytics bool = true

@description('Grant the provisioning principal Key Vault Secrets Officer on the keyring vault, so that the postprovision hook can create the keyring secret. Only for the provision that creates it: the hook removes the grant again.')
param grantKeyringAdmin bool = false

var resourceToken = toLower(uniqueString(subscription().id, environmentName, location))
var tags = { 'azd-env-name': environmentName }

resource rg 'Microsoft.Resources/resourceGroups@2021-04-01' = {
  name: 'rg-${environmentName}'
  location: location
  tags: tags
}

module resources 'resources.bicep' = {
  name: 'resources'
  scope: rg
  params: {
    location: location
    tags: tags
    resourceToken: resourceToken
    storageSku: storageSku
    backupRetentionDays: backupRetentionDays
    authTenantId: empty(authTenantId) ? tenant().tenantId : authTenantId
    authAudience: authAudience
    encryptionActiveKey: encryptionActiveKey
    // Empty values dropped: an empty app setting is not the same as an absent one for every reader.
    optionalAppSettings: toObject(filter(items(appSettings), item => !empty(item.value)), item => item.key, item => item.value)
    alertEmail: alertEmail
    alertActionGroupId: alertActionGroupId
    privateNetwork: privateNetwork
    auditToLogAnalytics: auditToLogAnalytics
    keyringAdmin: grantKeyringAdmin && !empty(provisioningPrincipalId)
      ? { principalId: provisioningPrincipalId, principalType: provisioningPrincipalType }
      : {}
  }
}

// azd passes outputs to hooks as environment variables (ensure-keyring.sh reads them).
output AZURE_LOCATION string = location
output AZURE_TENANT_ID string = tenant().tenantId
output AZURE_RESOURCE_GROUP string = rg.name
output AZURE_FUNCTION_APP_NAME string = resources.outputs.functionAppName
output AZURE_FUNCTION_APP_URL string = resources.outputs.functionAppUrl
// The identity the app calls Microsoft Graph with (AZURE_CLIENT_ID): grant Device.Read.All to this one
// (and DeviceManagementManagedDevices.Read.All with .PrivilegedOperations.All for INTUNE_ROTATE_ON_REVEAL).
output AZURE_FUNCTION_IDENTITY_PRINCIPAL_ID string = resources.outputs.identityPrincipalId
output AZURE_FUNCTION_IDENTITY_NAME string = resources.outputs.identityName
output AZURE_KEY_VAULT_NAME string = resources.outputs.keyVaultName
output ENCRYPTION_KEYRING_SECRET_NAME string = resources.outputs.keyringSecretName
output ENCRYPTION_ACTIVE_KEY string = encryptionActiveKey
// Set only when this provision granted it: the hook removes exactly this assignment.
output KEYRING_ADMIN_ROLE_ASSIGNMENT_ID string = resources.outputs.keyringAdminRoleAssignmentId
