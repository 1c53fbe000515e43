// The service: a Python Function App on the Flex Consumption plan, its storage reached with its
// identity (shared keys disabled), Application Insights on Log Analytics, and a Key Vault whose
// secrets the app settings reference instead of holding them.
param location string
param prefix string
param tags object
param identityId string
param identityClientId string
param identityPrincipalId string

@description('The identity the platform reads and writes the app\'s code package with; the app\'s own code acts as the other one.')
param deployIdentityId string
param deployIdentityPrincipalId string

@description('Subnet for outbound VNet integration, or empty for none.')
param integrationSubnetId string

param enableGitHub bool
param githubAppId string
param githubApiUrl string
param enableGitLab bool
param gitlabUrl string
param gitlabWebhookSigning bool
param runnerPools string
param maximumInstanceCount int

var suffix = uniqueString(resourceGroup().id, prefix)
var storageName = toLower(take('st${prefix}${suffix}', 24))
var keyVaultName = toLower(take('kv-${prefix}-${suffix}', 24))
var deploymentContainer = 'app-package'
// Where the Functions host keeps its locks (singleton and timer leases, the host ID lock) and its
// keys. Created here so that blob access can be granted on these containers instead of the
// account: the host only needs them to exist.
var hostContainers = [
  'azure-webjobs-hosts'
  'azure-webjobs-secrets'
]

// Built-in roles the app needs on its own storage, monitoring and secrets.
var roles = {
  storageBlobDataOwner: 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b'
  storageBlobDataContributor: 'ba92f5b4-2d11-453d-a403-e96b0029c9fe'
  storageQueueDataContributor: '974c5e8b-45b9-4653-ba55-5f855dd0fb88'
  storageTableDataContributor: '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3'
  keyVaultSecretsUser: '4633458b-17de-408a-b874-0445c86b69e6'
  monitoringMetricsPublisher: '3913510d-42f4-4e42-8a64-420c390055eb'
}

// Secrets by Key Vault reference: the value never appears in a deployment or in the app's settings.
var kvRef = '@Microsoft.KeyVault(VaultName=${keyVaultName};SecretName='

var githubOnly = {
  GITHUB_API_URL: githubApiUrl
  GITHUB_WEBHOOK_SECRET: '${kvRef}github-webhook-secret)'
  GITHUB_APP_ID: githubAppId
  GITHUB_APP_PRIVATE_KEY: '${kvRef}github-app-private-key)'
}
var gitlabOnly = {
  GITLAB_URL: gitlabUrl
  GITLAB_TOKEN: '${kvRef}gitlab-token)'
  GITLAB_WEBHOOK_TOKEN: '${kvRef}gitlab-webhook-token)'
}
// Signed hooks carry a timestamped HMAC over the body and a signed id: a captured hook cannot be
// replayed later or under a new id, which the plain token alone does not prevent.
var gitlabSigning = {
  GITLAB_WEBHOOK_SIGNING_TOKEN: '${kvRef}gitlab-webhook-signing-token)'
}
var githubSettings = enableGitHub ? githubOnly : {}
var gitlabSettings = enableGitLab ? union(gitlabOnly, gitlabWebhookSigning ? gitlabSigning : {}) : {}

var baseSettings = {
  AzureWebJobsStorage__accountName: storage.name
  AzureWebJobsStorage__credential: 'managedidentity'
  AzureWebJobsStorage__clientId: identityClientId
  // DefaultAzureCredential (Resource Manager calls) picks the user-assigned identity by this.
  AZURE_CLIENT_ID: identityClientId
  APPLICATIONINSIGHTS_CONNECTION_STRING: insights.properties.ConnectionString
  APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'ClientId=${identityClientId};Authorization=AAD'
  RUNNER_POOLS: runnerPools
}

var appSettings = [for setting in items(union(baseSettings, githubSettings, gitlabSettings)): {
  name: setting.key
  value: setting.value
}]

resource workspace 'Microsoft.OperationalInsights/workspaces@2023-09-01' = {
  name: 'log-${prefix}'
  location: location
  tags: tags
  properties: {
    sku: {
      name: 'PerGB2018'
    }
    retentionInDays: 90
  }
}

resource insights 'Microsoft.Insights/components@2020-02-02' = {
  name: 'appi-${prefix}'
  location: location
  tags: tags
  kind: 'web'
  properties: {
    Application_Type: 'web'
    WorkspaceResourceId: workspace.id
    // Telemetry is accepted only from Entra-authenticated senders: the app's identity.
    DisableLocalAuth: true
  }
}

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  // checkov:skip=CKV_AZURE_35: Flex Consumption reaches its storage over the public endpoint unless it is VNet-integrated with private endpoints; access is Entra-only (shared keys disabled).
  // checkov:skip=CKV_AZURE_59: same reason as CKV_AZURE_35: the public endpoint stays on, but only Entra identities with a data role can use it.
  // checkov:skip=CKV_AZURE_206: the queues and state table hold in-flight work that the reconciler rebuilds from Azure and the forges; zone-redundant storage (ZRS) is enough, geo-replication is not needed.
  // checkov:skip=CKV_AZURE_43: the name is computed (toLower, take, uniqueString) to 3-24 lower-case letters and digits; the check cannot evaluate the expression.
  name: storageName
  location: location
  tags: tags
  sku: {
    // Zone-redundant: the queues and state table are the service's memory of in-flight jobs.
    name: 'Standard_ZRS'
  }
  kind: 'StorageV2'
  properties: {
    accessTier: 'Hot'
    allowSharedKeyAccess: false
    allowBlobPublicAccess: false
    allowCrossTenantReplication: false
    defaultToOAuthAuthentication: true
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      defaultAction: 'Allow'
      bypass: 'AzureServices'
    }
  }
}

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' = {
  parent: storage
  name: 'default'
}

resource packageContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: blobService
  name: deploymentContainer
  properties: {
    publicAccess: 'None'
  }
}

resource hostContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = [
  for name in hostContainers: {
    parent: blobService
    name: name
    properties: {
      publicAccess: 'None'
    }
  }
]

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' = {
  // checkov:skip=CKV_AZURE_109: Key Vault references resolve over the public endpoint from a Flex Consumption app without VNet integration, whose outbound addresses are not fixed; access is Entra RBAC only.
  // checkov:skip=CKV_AZURE_189: same reason as CKV_AZURE_109.
  name: keyVaultName
  location: location
  tags: tags
  properties: {
    tenantId: subscription().tenantId
    sku: {
      family: 'A'
      name: 'standard'
    }
    enableRbacAuthorization: true
    enableSoftDelete: true
    softDeleteRetentionInDays: 90
    enablePurgeProtection: true
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      defaultAction: 'Allow'
      bypass: 'AzureServices'
    }
  }
}

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  // checkov:skip=CKV_AZURE_225: Flex Consumption zone redundancy is offered only in some regions; where it is, set zoneRedundant: true here.
  name: 'plan-${prefix}'
  location: location
  tags: tags
  kind: 'functionapp'
  sku: {
    tier: 'FlexConsumption'
    name: 'FC1'
  }
  properties: {
    reserved: true
  }
}

resource app 'Microsoft.Web/sites@2024-04-01' = {
  // checkov:skip=CKV_AZURE_17: GitHub and GitLab cannot present client certificates; webhooks are verified by signature or token.
  // checkov:skip=CKV_AZURE_16: the app has a managed identity (user-assigned, below); the check looks only for a system-assigned one.
  // checkov:skip=CKV_AZURE_212: Flex Consumption scales out by itself; there is no fixed instance count to set.
  // checkov:skip=CKV_AZURE_213: App Service health check keeps probing instances; a Flex Consumption app scales to zero when idle, and GET /api/health serves external probes instead.
  // checkov:skip=CKV_AZURE_222: GitHub and GitLab call the webhooks from their own public addresses, so the endpoint must stay public.
  name: 'func-${prefix}-${suffix}'
  location: location
  tags: tags
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identityId}': {}
      '${deployIdentityId}': {}
    }
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    clientCertEnabled: false
    keyVaultReferenceIdentity: identityId
    virtualNetworkSubnetId: empty(integrationSubnetId) ? null : integrationSubnetId
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${storage.properties.primaryEndpoints.blob}${deploymentContainer}'
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: deployIdentityId
          }
        }
      }
      scaleAndConcurrency: {
        maximumInstanceCount: maximumInstanceCount
        instanceMemoryMB: 2048
      }
      runtime: {
        name: 'python'
        version: '3.11'
      }
    }
    siteConfig: {
      minTlsVersion: '1.2'
      scmMinTlsVersion: '1.2'
      ftpsState: 'Disabled'
      http20Enabled: true
      remoteDebuggingEnabled: false
      appSettings: appSettings
    }
  }
}

// The host's documented minimum for identity-based AzureWebJobsStorage is Storage Blob Data Owner
// (learn.microsoft.com/azure/azure-functions/functions-reference, "Connecting to host storage with
// an identity"; timer locks need no more). It is granted on the host's two containers only, never
// on the account: the code package in `app-package` is out of this identity's reach.
resource hostBlobRoles 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for (name, index) in hostContainers: {
    name: guid(hostContainer[index].id, identityPrincipalId, roles.storageBlobDataOwner)
    scope: hostContainer[index]
    properties: {
      roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageBlobDataOwner)
      principalId: identityPrincipalId
      principalType: 'ServicePrincipal'
    }
  }
]

// Queues: the provision and release queues and the host's poison queues (queue triggers on
// AzureWebJobsStorage). Tables: the service's state table and the host's diagnostic events, which
// go to a new table every month. The service (re)creates its queues and table when they are
// missing, so these stay on the account.
resource storageRoles 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for role in [
    roles.storageQueueDataContributor
    roles.storageTableDataContributor
  ]: {
    name: guid(storage.id, identityPrincipalId, role)
    scope: storage
    properties: {
      roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', role)
      principalId: identityPrincipalId
      principalType: 'ServicePrincipal'
    }
  }
]

// A deployment uploads the package through the platform, which writes it with the deployment
// storage identity, and every instance reads it with that identity at start: read and write on
// `app-package`, nothing else.
resource packageRole 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(packageContainer.id, deployIdentityPrincipalId, roles.storageBlobDataContributor)
  scope: packageContainer
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageBlobDataContributor)
    principalId: deployIdentityPrincipalId
    principalType: 'ServicePrincipal'
  }
}

resource secretsUser 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(vault.id, identityPrincipalId, roles.keyVaultSecretsUser)
  scope: vault
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.keyVaultSecretsUser)
    principalId: identityPrincipalId
    principalType: 'ServicePrincipal'
  }
}

resource telemetryPublisher 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(insights.id, identityPrincipalId, roles.monitoringMetricsPublisher)
  scope: insights
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.monitoringMetricsPublisher)
    principalId: identityPrincipalId
    principalType: 'ServicePrincipal'
  }
}

output functionAppName string = app.name
output defaultHostName string = app.properties.defaultHostName
output keyVaultName string = vault.name
// The workbook and alert rules (monitoring.bicep) read this workspace.
output workspaceId string = workspace.id
