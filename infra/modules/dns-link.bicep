// In a private DNS zone's resource group: the link that makes the zone resolve in the runner VNet
// (peering does not carry DNS), read access for the preflight, and link write only for doctor --fix.
param zoneName string
param runnerVnetId string
param linkName string
param principalId string
param readerRoleName string

@description('The DNS link writer role, or empty when doctor --fix is not enabled.')
param linkWriterRoleName string = ''

resource zone 'Microsoft.Network/privateDnsZones@2020-06-01' existing = {
  name: zoneName
}

resource link 'Microsoft.Network/privateDnsZones/virtualNetworkLinks@2020-06-01' = {
  parent: zone
  name: linkName
  location: 'global'
  properties: {
    virtualNetwork: {
      id: runnerVnetId
    }
    // The zone's records are the cluster's: runner VMs must not register theirs in it.
    registrationEnabled: false
  }
}

resource read 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(zone.id, principalId, readerRoleName)
  scope: zone
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', readerRoleName)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}

resource linkWrite 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!empty(linkWriterRoleName)) {
  name: guid(zone.id, principalId, 'dns-link-writer')
  scope: zone
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', linkWriterRoleName)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}
