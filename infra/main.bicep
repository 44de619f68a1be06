// The BitLocker key escrow on Azure: a resource group and everything in it (resources.bicep).
// Written from the resource types' Bicep reference (learn.microsoft.com/azure/templates/...) and the
// layout of Azure-Samples/functions-quickstart-typescript-azd. Neither the Bicep compiler nor azd nor
// Azure is reachable from this project's CI: this template is not compiled or deployed there.

targetScope = 'subscription'

@minLength(1)
@maxLength(64)
@description('azd environment name; part of every resource name.')
param environmentName string

@minLength(1)
@description('Region of every resource. Must offer Flex Consumption (az functionapp list-flexconsumption-locations).')
param location string

@description('Entra ID tenant (GUID) whose tokens the API accepts: AUTH_TENANT_ID. Empty: the deployment\'s tenant.')
param authTenantId string = ''

@description('The API\'s audience: its Application ID URI and/or client id, comma-separated (AUTH_AUDIENCE). Printed by scripts/entra/register-api.sh.')
param authAudience string

@description('ENCRYPTION_ACTIVE_KEY: the keyring version new writes use; ensure-keyring.sh creates it on first provision.')
param encryptionActiveKey string = 'v1'

@description('PUBLIC_BASE_URL when clients reach the API through API Management or Front Door (https://...); empty: links use the request\'s host.')
param publicBaseUrl string = ''

@description('Object id of who runs the provisioning (azd sets it): gets Key Vault Secrets Officer on the vault, to create the keyring secret. Empty: none.')
param keyringAdminPrincipalId string = ''

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
    authTenantId: empty(authTenantId) ? tenant().tenantId : authTenantId
    authAudience: authAudience
    encryptionActiveKey: encryptionActiveKey
    publicBaseUrl: publicBaseUrl
    keyringAdminPrincipalId: keyringAdminPrincipalId
  }
}

// azd passes outputs to hooks as environment variables (ensure-keyring.sh reads these two).
output AZURE_LOCATION string = location
output AZURE_TENANT_ID string = tenant().tenantId
output AZURE_RESOURCE_GROUP string = rg.name
output AZURE_FUNCTION_APP_NAME string = resources.outputs.functionAppName
output AZURE_FUNCTION_APP_URL string = resources.outputs.functionAppUrl
output AZURE_KEY_VAULT_NAME string = resources.outputs.keyVaultName
output ENCRYPTION_KEYRING_SECRET_NAME string = resources.outputs.keyringSecretName
output ENCRYPTION_ACTIVE_KEY string = encryptionActiveKey
