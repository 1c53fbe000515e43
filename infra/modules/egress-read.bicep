// In the runner resource group: the preflight's read access to how runners get out, the runner
// subnet's NAT gateway (which names its public IPs) or its route table, whichever
// runner-network.bicep made.
param principalId string
param readerRoleName string

@description('The NAT gateway runner-network.bicep made, or empty.')
param natGatewayName string = ''

@description('The route table runner-network.bicep made, or empty.')
param routeTableName string = ''

// Placeholder names keep the unused declaration valid: an existing resource is never read here.
resource natGateway 'Microsoft.Network/natGateways@2024-05-01' existing = {
  name: empty(natGatewayName) ? 'none' : natGatewayName
}

resource routeTable 'Microsoft.Network/routeTables@2024-05-01' existing = {
  name: empty(routeTableName) ? 'none' : routeTableName
}

resource natGatewayRead 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!empty(natGatewayName)) {
  name: guid(natGateway.id, principalId, readerRoleName)
  scope: natGateway
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', readerRoleName)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}

resource routeTableRead 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!empty(routeTableName)) {
  name: guid(routeTable.id, principalId, readerRoleName)
  scope: routeTable
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', readerRoleName)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}
