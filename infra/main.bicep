// Everything runner-fleet needs in an Azure subscription that already has a private AKS cluster:
// the Function App and what it runs on, the identity it acts as with the least privilege it needs,
// the runner network peered with the cluster's VNet and linked to its private DNS zone, and a
// workbook and alert rules that watch the fleet.
// Deploy with `az deployment sub create --location <region> --parameters infra/main.bicepparam`.
targetScope = 'subscription'

@description('Region of the service and of the runner network (the cluster\'s region).')
param location string

@description('Short prefix for resource names, 2-10 lower-case letters and digits.')
@minLength(2)
@maxLength(10)
param prefix string

@description('Resource group for the Function App, its storage, Key Vault and monitoring.')
param serviceResourceGroupName string = 'rg-${prefix}-service'

@description('Resource group for runner VMs, the runner network and the image gallery. The provisioner role is scoped to it.')
param runnerResourceGroupName string = 'rg-${prefix}-runners'

@description('Address space of the runner VNet; it must not overlap the cluster VNet.')
param runnerVnetAddressPrefix string = '10.20.0.0/16'

@description('Runner subnet prefix: room for max_runners of every pool using it, plus 5 addresses Azure reserves.')
param runnerSubnetPrefix string = '10.20.0.0/24'

// Runner VMs need one way out to their forge (GitHub or GitLab hosts, the runner download): the
// runner subnet is private (defaultOutboundAccess false), so without one a runner never registers.
@description('Private IP address of an existing firewall or network virtual appliance that runner VMs reach the Internet through, in the runner VNet or a VNet peered with it directly (e.g. the cluster VNet); it must allow the forge hosts `runner-fleet doctor` lists. When set, a route table sends the runner subnet\'s 0.0.0.0/0 to it and no NAT gateway is made. Empty (the default): a NAT gateway is the way out.')
param egressFirewallIp string = ''

@description('Give runner VMs outbound Internet access through a NAT gateway with a static public IP. Defaults to true exactly when egressFirewallIp is empty; egressFirewallIp wins when both are given, so there is never a second way out. false with no egressFirewallIp leaves the subnet without a way out: only for a network that gives it a default route by other means (e.g. Virtual WAN routing intent).')
param createNatGateway bool = empty(egressFirewallIp)

@description('Give the Function App outbound VNet integration (e.g. to reach a self-managed GitLab inside the network).')
param enableVnetIntegration bool = false

@description('Subnet for the Function App\'s VNet integration, delegated to Microsoft.App/environments (used when enableVnetIntegration).')
param integrationSubnetPrefix string = '10.20.1.0/27'

@description('Resource ID of the cluster\'s VNet (the AKS node VNet, or the API server VNet with API-server VNet integration).')
param clusterVnetId string

@description('The private IP address of the cluster\'s API server (the A record of its private FQDN; with API server VNet integration, its internal load balancer), or a prefix holding it. The runner NSG lets runner VMs reach it on TCP 443 and nothing else in the network.')
param apiServerPrivateAddress string

@description('Further private endpoints jobs must reach on TCP 443 (a private container registry, Key Vault, ...), as IP addresses or prefixes. Everything else in the network stays closed to runner VMs.')
param privateEndpointAddresses array = []

@description('Resource ID of the AKS cluster; empty when pools name the API server FQDN and zone directly.')
param aksClusterId string = ''

@description('Where the cluster\'s private DNS zone is: "system" (AKS made it, in the node resource group) or "custom" (your zone).')
@allowed([
  'system'
  'custom'
])
param clusterDnsZoneMode string = 'system'

@description('system mode: the cluster\'s node resource group (MC_...), in the cluster VNet\'s subscription.')
param clusterNodeResourceGroup string = ''

@description('system mode: the zone name, e.g. <guid>.privatelink.westeurope.azmk8s.io or privatelink.westeurope.azmk8s.io.')
param clusterDnsZoneName string = ''

@description('custom mode: the resource ID of your private DNS zone.')
param clusterDnsZoneId string = ''

@description('Further private DNS zones jobs need, by resource ID: linked to the runner VNet too.')
param extraDnsZoneIds array = []

@description('Resource ID of the private DNS zone holding your container registry\'s private endpoint records (privatelink.azurecr.io in Azure\'s public cloud), in any subscription and resource group; empty: none. Linked to the runner VNet, so runner VMs resolve <registry>.azurecr.io and its data endpoints to the private endpoint instead of the public address.')
param acrPrivateDnsZoneId string = ''

@description('Resource ID of the private DNS zone holding your Key Vault\'s private endpoint record (privatelink.vaultcore.azure.net in Azure\'s public cloud), in any subscription and resource group; empty: none. Linked to the runner VNet like acrPrivateDnsZoneId.')
param keyVaultPrivateDnsZoneId string = ''

@description('Let `runner-fleet doctor --fix` create missing zone links itself (grants link write on the zones).')
param enableDoctorFix bool = false

@description('Serve GitHub pools: adds the GitHub settings, with secrets as Key Vault references.')
param enableGitHub bool = true

@description('The GitHub App ID (a number, not a secret). Empty when a token is used instead.')
param githubAppId string = ''

@description('GitHub API URL: https://api.github.com, or https://<host>/api/v3 for GitHub Enterprise Server.')
param githubApiUrl string = 'https://api.github.com'

@description('Serve GitLab pools: adds the GitLab settings, with secrets as Key Vault references.')
param enableGitLab bool = false

@description('The GitLab instance, e.g. https://gitlab.com.')
param gitlabUrl string = 'https://gitlab.com'

@description('Require signed Job Hooks (the gitlab-webhook-signing-token Key Vault secret, also set as the webhook\'s signing token in GitLab). Without it a hook is authenticated by the shared secret token alone, which GitLab sends in clear in every request. Turn off only for GitLab versions that cannot sign webhooks.')
param gitlabWebhookSigning bool = true

@description('The pools, as JSON (the RUNNER_POOLS setting). See runner_fleet/defaults/example-pools.yaml for the fields.')
param runnerPools string

@description('Maximum Flex Consumption instances (webhooks are light; provisioning mostly waits on Azure).')
@minValue(40)
@maxValue(1000)
param maximumInstanceCount int = 40

@description('Deploy the fleet\'s Azure Monitor workbook and alert rules (modules/monitoring.bicep) on the service\'s Log Analytics workspace.')
param enableMonitoring bool = true

@description('Email addresses the alerts notify, through an action group made for them. Empty (the default): no action group; alerts show in Azure Monitor > Alerts only.')
param alertEmailAddresses array = []

@description('Resource IDs of existing action groups the alerts notify as well (an on-call rotation, a chat webhook).')
param alertActionGroupIds array = []

@description('Alert when a pool\'s p95 job wait (queued to running, from the job.running events) over 30 minutes is above this many seconds.')
@minValue(1)
param alertWaitP95Seconds int = 300

@description('Alert when a forge has fewer API requests than this left in its rate-limit window (GitHub Apps get 5,000 an hour or more per installation).')
@minValue(1)
param alertForgeApiRemaining int = 500

@description('Alert when the reconciler deletes more than this many leaked VMs (VMs whose release never came) in an hour.')
@minValue(0)
param alertLeakedVmsPerHour int = 2

@description('Alert when a pool\'s preflight has reported a check failing for this many minutes in a row.')
@allowed([
  5
  10
  15
  20
  25
  30
])
param alertPreflightFailingMinutes int = 15

@description('Tags for every resource created here.')
param tags object = {
  'managed-by': 'runner-fleet'
}

// Resource IDs are /subscriptions/<sub>/resourceGroups/<rg>/providers/<type>/<name>.
var clusterVnet = {
  subscriptionId: split(clusterVnetId, '/')[2]
  resourceGroup: split(clusterVnetId, '/')[4]
  name: last(split(clusterVnetId, '/'))
}
var systemZone = {
  subscriptionId: clusterVnet.subscriptionId
  resourceGroup: clusterNodeResourceGroup
  name: clusterDnsZoneName
}
// Placeholders keep the unused form parseable: Resource Manager may evaluate both.
var customZoneId = empty(clusterDnsZoneId) ? '${subscription().id}/resourceGroups/none/providers/Microsoft.Network/privateDnsZones/none' : clusterDnsZoneId
var customZone = {
  subscriptionId: split(customZoneId, '/')[2]
  resourceGroup: split(customZoneId, '/')[4]
  name: last(split(customZoneId, '/'))
}
var aksId = empty(aksClusterId) ? '${subscription().id}/resourceGroups/none/providers/Microsoft.ContainerService/managedClusters/none' : aksClusterId
// Parenthesised for checkov's parser (pycep), which reads `a == b ? c : d` as `a == (b ? c : d)`.
var clusterZone = (clusterDnsZoneMode == 'system') ? systemZone : customZone
// Every zone is linked once, however many parameters name it.
var extraZoneIds = union(
  extraDnsZoneIds,
  empty(acrPrivateDnsZoneId) ? [] : [acrPrivateDnsZoneId],
  empty(keyVaultPrivateDnsZoneId) ? [] : [keyVaultPrivateDnsZoneId]
)
var extraZones = [
  for id in extraZoneIds: {
    subscriptionId: split(id, '/')[2]
    resourceGroup: split(id, '/')[4]
    name: last(split(id, '/'))
  }
]
var zones = concat([clusterZone], extraZones)
// Custom roles must list every subscription they are assigned in; union() drops the repeats.
var zoneSubscriptions = [for zone in zones: '/subscriptions/${zone.subscriptionId}']
var networkSubscriptions = union([subscription().id], zoneSubscriptions, ['/subscriptions/${clusterVnet.subscriptionId}'])
var zoneRoleSubscriptions = union([subscription().id], zoneSubscriptions)

resource serviceGroup 'Microsoft.Resources/resourceGroups@2024-03-01' = {
  name: serviceResourceGroupName
  location: location
  tags: tags
}

resource runnerGroup 'Microsoft.Resources/resourceGroups@2024-03-01' = {
  name: runnerResourceGroupName
  location: location
  tags: tags
}

module identity 'modules/identity.bicep' = {
  name: 'runner-fleet-identity'
  scope: serviceGroup
  params: {
    location: location
    name: 'id-${prefix}-provisioner'
    tags: tags
  }
}

// The platform reads and writes the app's code package as this identity, so the identity the
// app's code acts as (above) holds no role on the package.
module deployIdentity 'modules/identity.bicep' = {
  name: 'runner-fleet-deploy-identity'
  scope: serviceGroup
  params: {
    location: location
    name: 'id-${prefix}-deploy'
    tags: tags
  }
}

module runnerNetwork 'modules/runner-network.bicep' = {
  name: 'runner-fleet-runner-network'
  scope: runnerGroup
  params: {
    location: location
    prefix: prefix
    tags: tags
    addressPrefix: runnerVnetAddressPrefix
    runnerSubnetPrefix: runnerSubnetPrefix
    enableVnetIntegration: enableVnetIntegration
    integrationSubnetPrefix: integrationSubnetPrefix
    clusterVnetId: clusterVnetId
    createNatGateway: createNatGateway
    egressFirewallIp: egressFirewallIp
    apiServerPrefix: apiServerPrivateAddress
    privateEndpointPrefixes: privateEndpointAddresses
  }
}

module egressRead 'modules/egress-read.bicep' = {
  name: 'runner-fleet-egress-read'
  scope: runnerGroup
  params: {
    principalId: identity.outputs.principalId
    readerRoleName: networkReader.name
    natGatewayName: runnerNetwork.outputs.natGatewayName
    routeTableName: runnerNetwork.outputs.routeTableName
  }
}

module gallery 'modules/gallery.bicep' = {
  name: 'runner-fleet-gallery'
  scope: runnerGroup
  params: {
    location: location
    prefix: prefix
    tags: tags
  }
}

module provisionerRole 'modules/provisioner-role.bicep' = {
  name: 'runner-fleet-provisioner-role'
  scope: runnerGroup
  params: {
    prefix: prefix
    principalId: identity.outputs.principalId
    vnetName: runnerNetwork.outputs.vnetName
    subnetName: runnerNetwork.outputs.runnerSubnetName
    nsgName: runnerNetwork.outputs.nsgName
    galleryName: gallery.outputs.galleryName
    networkReaderRoleName: networkReader.name
  }
}

// Runner VMs must never hold a token a job could take, nor be reachable from the Internet. The
// service never asks for either (vm_body.py sends no identity and no public IP), and its role
// cannot attach a user-assigned identity or a public IP; the policy makes it hold for anyone
// deploying into the runner resource group, a system-assigned identity and a later edit included.
resource noVmIdentity 'Microsoft.Authorization/policyDefinitions@2021-06-01' = {
  name: guid(subscription().id, prefix, 'runner-fleet-no-vm-identity')
  properties: {
    displayName: 'runner-fleet (${prefix}): virtual machines must have no managed identity'
    description: 'Denies VMs and scale sets with a system- or user-assigned managed identity: every job on a runner VM could take its token.'
    policyType: 'Custom'
    mode: 'Indexed'
    metadata: {
      category: 'Compute'
    }
    policyRule: {
      if: {
        allOf: [
          {
            field: 'type'
            in: [
              'Microsoft.Compute/virtualMachines'
              'Microsoft.Compute/virtualMachineScaleSets'
            ]
          }
          {
            field: 'identity.type'
            exists: 'true'
          }
          {
            field: 'identity.type'
            notEquals: 'None'
          }
        ]
      }
      then: {
        effect: 'deny'
      }
    }
  }
}

module runnerPolicy 'modules/runner-policy.bicep' = {
  name: 'runner-fleet-runner-policy'
  scope: runnerGroup
  params: {
    prefix: prefix
    noVmIdentityDefinitionId: noVmIdentity.id
  }
}

module clusterSide 'modules/cluster-side.bicep' = {
  name: 'runner-fleet-cluster-side'
  scope: resourceGroup(clusterVnet.subscriptionId, clusterVnet.resourceGroup)
  params: {
    clusterVnetName: clusterVnet.name
    runnerVnetId: runnerNetwork.outputs.vnetId
    peeringName: 'peer-to-${prefix}-runners'
    principalId: identity.outputs.principalId
    readerRoleName: networkReader.name
  }
}

module clusterRead 'modules/cluster-read.bicep' = if (!empty(aksClusterId)) {
  name: 'runner-fleet-cluster-read'
  scope: resourceGroup(split(aksId, '/')[2], split(aksId, '/')[4])
  params: {
    clusterName: last(split(aksId, '/'))
    principalId: identity.outputs.principalId
    readerRoleName: networkReader.name
  }
}

module dnsLinks 'modules/dns-link.bicep' = [
  for (zone, index) in zones: {
    name: 'runner-fleet-dns-link-${index}'
    scope: resourceGroup(zone.subscriptionId, zone.resourceGroup)
    params: {
      zoneName: zone.name
      runnerVnetId: runnerNetwork.outputs.vnetId
      linkName: 'link-${prefix}-runners'
      principalId: identity.outputs.principalId
      readerRoleName: networkReader.name
      linkWriterRoleName: enableDoctorFix ? dnsLinkWriter.name : ''
    }
  }
]

module runnerVnetJoin 'modules/vnet-join.bicep' = if (enableDoctorFix) {
  name: 'runner-fleet-vnet-join'
  scope: runnerGroup
  params: {
    vnetName: runnerNetwork.outputs.vnetName
    principalId: identity.outputs.principalId
    roleName: dnsLinkWriter.name
  }
}

module service 'modules/service.bicep' = {
  name: 'runner-fleet-service'
  scope: serviceGroup
  params: {
    location: location
    prefix: prefix
    tags: tags
    identityId: identity.outputs.id
    identityClientId: identity.outputs.clientId
    identityPrincipalId: identity.outputs.principalId
    deployIdentityId: deployIdentity.outputs.id
    deployIdentityPrincipalId: deployIdentity.outputs.principalId
    integrationSubnetId: enableVnetIntegration ? runnerNetwork.outputs.integrationSubnetId : ''
    enableGitHub: enableGitHub
    githubAppId: githubAppId
    githubApiUrl: githubApiUrl
    enableGitLab: enableGitLab
    gitlabUrl: gitlabUrl
    gitlabWebhookSigning: gitlabWebhookSigning
    runnerPools: runnerPools
    maximumInstanceCount: maximumInstanceCount
  }
}

// The workbook and alert rules, next to the workspace Application Insights writes to.
module monitoring 'modules/monitoring.bicep' = if (enableMonitoring) {
  name: 'runner-fleet-monitoring'
  scope: serviceGroup
  params: {
    location: location
    prefix: prefix
    tags: tags
    workspaceId: service.outputs.workspaceId
    alertEmailAddresses: alertEmailAddresses
    alertActionGroupIds: alertActionGroupIds
    waitP95ThresholdSeconds: alertWaitP95Seconds
    forgeApiRemainingThreshold: alertForgeApiRemaining
    leakedVmsPerHourThreshold: alertLeakedVmsPerHour
    preflightFailingMinutes: alertPreflightFailingMinutes
  }
}

// Resource SKUs and marketplace images are listed per subscription: no narrower scope can grant it.
resource catalogReader 'Microsoft.Authorization/roleDefinitions@2022-04-01' = {
  name: guid(subscription().id, prefix, 'runner-fleet-catalog-reader')
  properties: {
    roleName: 'runner-fleet catalog reader (${prefix})'
    description: 'Reads VM sizes (resource SKUs) and marketplace image versions offered in a region.'
    type: 'CustomRole'
    permissions: [
      {
        actions: [
          'Microsoft.Compute/skus/read'
          'Microsoft.Compute/locations/publishers/artifacttypes/offers/skus/versions/read'
        ]
        notActions: []
      }
    ]
    assignableScopes: [
      subscription().id
    ]
  }
}

resource catalogReaderAssignment 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(subscription().id, prefix, 'runner-fleet-catalog-reader', 'assignment')
  properties: {
    roleDefinitionId: catalogReader.id
    principalId: identity.outputs.principalId
    principalType: 'ServicePrincipal'
  }
}

// What the network preflight reads: on the cluster's side (VNet, peerings, zone, records, cluster)
// and on the runner side (the runner VNet and its NSG, see provisioner-role.bicep).
resource networkReader 'Microsoft.Authorization/roleDefinitions@2022-04-01' = {
  name: guid(subscription().id, prefix, 'runner-fleet-network-reader')
  properties: {
    roleName: 'runner-fleet network reader (${prefix})'
    description: 'Reads VNets, their peerings and NSGs, the runner subnet\'s NAT gateway or route table, the firewall it routes to and its policy, private endpoints, private DNS zones, their links and A records, and the AKS cluster.'
    type: 'CustomRole'
    permissions: [
      {
        actions: [
          'Microsoft.Network/virtualNetworks/read'
          'Microsoft.Network/virtualNetworks/subnets/read'
          'Microsoft.Network/virtualNetworks/virtualNetworkPeerings/read'
          'Microsoft.Network/networkSecurityGroups/read'
          'Microsoft.Network/natGateways/read'
          'Microsoft.Network/routeTables/read'
          // The egress check reads the Azure Firewall a route leads to and its policy, and the
          // private-endpoint check the pools' endpoints: assign this role on those resource groups
          // too (they are not this template's); doctor names any it cannot read.
          'Microsoft.Network/azureFirewalls/read'
          'Microsoft.Network/firewallPolicies/read'
          'Microsoft.Network/firewallPolicies/ruleCollectionGroups/read'
          'Microsoft.Network/ipGroups/read'
          'Microsoft.Network/privateEndpoints/read'
          'Microsoft.Network/privateEndpoints/privateDnsZoneGroups/read'
          'Microsoft.Network/privateDnsZones/read'
          'Microsoft.Network/privateDnsZones/A/read'
          'Microsoft.Network/privateDnsZones/virtualNetworkLinks/read'
          'Microsoft.ContainerService/managedClusters/read'
        ]
        notActions: []
      }
    ]
    assignableScopes: networkSubscriptions
  }
}

// Only with doctor --fix: create a missing zone link (the link write, and join on the runner VNet).
resource dnsLinkWriter 'Microsoft.Authorization/roleDefinitions@2022-04-01' = if (enableDoctorFix) {
  name: guid(subscription().id, prefix, 'runner-fleet-dns-link-writer')
  properties: {
    roleName: 'runner-fleet DNS link writer (${prefix})'
    description: 'Creates private DNS zone links to the runner VNet for `runner-fleet doctor --fix`.'
    type: 'CustomRole'
    permissions: [
      {
        actions: [
          'Microsoft.Network/privateDnsZones/virtualNetworkLinks/read'
          'Microsoft.Network/privateDnsZones/virtualNetworkLinks/write'
          'Microsoft.Network/privateDnsOperationStatuses/read'
          'Microsoft.Network/virtualNetworks/join/action'
        ]
        notActions: []
      }
    ]
    assignableScopes: zoneRoleSubscriptions
  }
}

output functionAppName string = service.outputs.functionAppName
output githubWebhookUrl string = 'https://${service.outputs.defaultHostName}/api/github'
output gitlabWebhookUrl string = 'https://${service.outputs.defaultHostName}/api/gitlab'
output keyVaultName string = service.outputs.keyVaultName
output provisionerClientId string = identity.outputs.clientId
output runnerSubnetId string = runnerNetwork.outputs.runnerSubnetId
output runnerEgress string = runnerNetwork.outputs.egress
output galleryName string = gallery.outputs.galleryName
output imageDefinitionId string = gallery.outputs.imageDefinitionId
output workbookId string = enableMonitoring ? monitoring.outputs.workbookId : ''
