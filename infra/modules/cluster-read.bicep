// The preflight reads the AKS cluster for its private FQDN, DNS zone and node resource group.
param clusterName string
param principalId string
param readerRoleName string

resource cluster 'Microsoft.ContainerService/managedClusters@2024-09-01' existing = {
  name: clusterName
}

resource read 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(cluster.id, principalId, readerRoleName)
  scope: cluster
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', readerRoleName)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}
