// The runner network: a VNet with the runner subnet behind an NSG that admits nothing from the
// Internet, peered with the cluster VNet (this side; cluster-side.bicep makes the other).
param location string
param prefix string
param tags object
param addressPrefix string
param runnerSubnetPrefix string
param enableVnetIntegration bool
param integrationSubnetPrefix string
param clusterVnetId string

@description('Give runners outbound Internet access (forges, registries) through a NAT gateway; false when a route table sends it to your firewall.')
param createNatGateway bool

var runnerSubnet = {
  name: 'snet-runners'
  properties: {
    addressPrefix: runnerSubnetPrefix
    networkSecurityGroup: {
      id: nsg.id
    }
    // New subnets get no default outbound access: runners reach their forge through the NAT gateway.
    natGateway: createNatGateway ? { id: natGateway.id } : null
    defaultOutboundAccess: false
  }
}

// Flex Consumption joins a VNet through a subnet delegated to Microsoft.App/environments.
var integrationSubnet = {
  name: 'snet-function-integration'
  properties: {
    addressPrefix: integrationSubnetPrefix
    networkSecurityGroup: {
      id: nsg.id
    }
    delegations: [
      {
        name: 'flex-consumption'
        properties: {
          serviceName: 'Microsoft.App/environments'
        }
      }
    ]
  }
}

resource nsg 'Microsoft.Network/networkSecurityGroups@2024-05-01' = {
  name: 'nsg-${prefix}-runners'
  location: location
  tags: tags
  properties: {
    securityRules: [
      {
        // The default rules already drop it; stated explicitly so no later rule can open the door
        // by accident, and so the preflight and reviewers see it.
        name: 'deny-internet-inbound'
        properties: {
          priority: 4000
          direction: 'Inbound'
          access: 'Deny'
          protocol: '*'
          sourceAddressPrefix: 'Internet'
          sourcePortRange: '*'
          destinationAddressPrefix: '*'
          destinationPortRange: '*'
        }
      }
    ]
  }
}

resource egressIp 'Microsoft.Network/publicIPAddresses@2024-05-01' = if (createNatGateway) {
  name: 'pip-${prefix}-runners-egress'
  location: location
  tags: tags
  sku: {
    name: 'Standard'
  }
  properties: {
    publicIPAllocationMethod: 'Static'
    publicIPAddressVersion: 'IPv4'
  }
}

resource natGateway 'Microsoft.Network/natGateways@2024-05-01' = if (createNatGateway) {
  name: 'ng-${prefix}-runners'
  location: location
  tags: tags
  sku: {
    name: 'Standard'
  }
  properties: {
    publicIpAddresses: [
      {
        id: egressIp.id
      }
    ]
    idleTimeoutInMinutes: 4
  }
}

resource vnet 'Microsoft.Network/virtualNetworks@2024-05-01' = {
  name: 'vnet-${prefix}-runners'
  location: location
  tags: tags
  properties: {
    addressSpace: {
      addressPrefixes: [
        addressPrefix
      ]
    }
    // No custom DNS servers: Azure DNS (168.63.129.16) answers from the linked private zones.
    subnets: enableVnetIntegration ? [runnerSubnet, integrationSubnet] : [runnerSubnet]
  }
}

resource toCluster 'Microsoft.Network/virtualNetworks/virtualNetworkPeerings@2024-05-01' = {
  parent: vnet
  name: 'peer-to-cluster'
  properties: {
    remoteVirtualNetwork: {
      id: clusterVnetId
    }
    allowVirtualNetworkAccess: true
    allowForwardedTraffic: false
    allowGatewayTransit: false
    useRemoteGateways: false
  }
}

output vnetId string = vnet.id
output vnetName string = vnet.name
output runnerSubnetId string = resourceId('Microsoft.Network/virtualNetworks/subnets', vnet.name, 'snet-runners')
output integrationSubnetId string = enableVnetIntegration ? resourceId('Microsoft.Network/virtualNetworks/subnets', vnet.name, 'snet-function-integration') : ''
