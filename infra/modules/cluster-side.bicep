// In the cluster VNet's resource group: the peering back to the runner VNet (peerings need both
// directions) and the preflight's read access to the cluster VNet.
param clusterVnetName string
param runnerVnetId string
param peeringName string
param principalId string
param readerRoleName string

resource clusterVnet 'Microsoft.Network/virtualNetworks@2024-05-01' existing = {
  name: clusterVnetName
}

resource toRunners 'Microsoft.Network/virtualNetworks/virtualNetworkPeerings@2024-05-01' = {
  parent: clusterVnet
  name: peeringName
  properties: {
    remoteVirtualNetwork: {
      id: runnerVnetId
    }
    allowVirtualNetworkAccess: true
    allowForwardedTraffic: false
    allowGatewayTransit: false
    useRemoteGateways: false
  }
}

resource read 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(clusterVnet.id, principalId, readerRoleName)
  scope: clusterVnet
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', readerRoleName)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}
