// The runner network: a VNet with the runner subnet behind an NSG that isolates runner VMs, peered
// with the cluster VNet (this side; cluster-side.bicep makes the other).
//
// A job runs arbitrary code next to the cluster. Azure's default NSG rules would let it reach
// anything in this VNet and every peered one (AllowVnetOutBound, priority 65000: kubelets on 10250,
// NodePorts, internal load balancers, pods, the other runners) and be reached from there
// (AllowVnetInBound, 65000). Default rules cannot be removed, only overridden by rules of a lower
// priority number, so the NSG states what runners need and denies the rest of VirtualNetwork
// both ways. Rule semantics: learn.microsoft.com/azure/virtual-network/network-security-groups-overview
// ("Default security rules"; "Once traffic matches a rule, processing stops").
param location string
param prefix string
param tags object
param addressPrefix string
param runnerSubnetPrefix string
param enableVnetIntegration bool
param integrationSubnetPrefix string
param clusterVnetId string

@description('The private IP address of the cluster API server (the A record of its private FQDN), or a prefix holding it: runner VMs may open TCP 443 to it and to nothing else in the network.')
param apiServerPrefix string

@description('Further private endpoints jobs must reach on TCP 443 (e.g. a private container registry), as IP addresses or prefixes; may be empty.')
param privateEndpointPrefixes array = []

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

// Flex Consumption joins a VNet through a subnet delegated to Microsoft.App/environments. It has
// its own NSG: the Function App is integrated precisely to reach things in the network (e.g. a
// self-managed GitLab), which the runners' isolation rules would cut off.
var integrationSubnet = {
  name: 'snet-function-integration'
  properties: {
    addressPrefix: integrationSubnetPrefix
    networkSecurityGroup: {
      id: enableVnetIntegration ? integrationNsg.id : ''
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

// The one VNet destination every job needs: the API server's private endpoint, over HTTPS.
var apiServerRule = {
  name: 'allow-api-server-https-outbound'
  properties: {
    priority: 100
    direction: 'Outbound'
    access: 'Allow'
    protocol: 'Tcp'
    sourceAddressPrefix: '*'
    sourcePortRange: '*'
    destinationAddressPrefix: apiServerPrefix
    destinationPortRange: '443'
  }
}

// Other private endpoints the jobs use (registry, Key Vault, ...), HTTPS only. An empty list of
// prefixes is not a valid rule, so the rule exists only when there is something to allow.
var privateEndpointRules = empty(privateEndpointPrefixes) ? [] : [
  {
    name: 'allow-private-endpoints-https-outbound'
    properties: {
      priority: 110
      direction: 'Outbound'
      access: 'Allow'
      protocol: 'Tcp'
      sourceAddressPrefix: '*'
      sourcePortRange: '*'
      destinationAddressPrefixes: privateEndpointPrefixes
      destinationPortRange: '443'
    }
  }
]

var isolationRules = [
  {
    // Health probes come from 168.63.129.16, which the VirtualNetwork tag includes (service tags
    // overview: "the virtual IP address of the host"); allowed here so the VNet deny below cannot
    // catch them, as Azure's own AllowAzureLoadBalancerInBound intends. Runner VMs sit behind no
    // load balancer, so nothing else arrives from that address.
    name: 'allow-azure-load-balancer-inbound'
    properties: {
      priority: 3900
      direction: 'Inbound'
      access: 'Allow'
      protocol: '*'
      sourceAddressPrefix: 'AzureLoadBalancer'
      sourcePortRange: '*'
      destinationAddressPrefix: '*'
      destinationPortRange: '*'
    }
  }
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
  {
    // Runner VMs serve nothing: no connection from the VNet, its peers or the runner subnet itself
    // (one job must not reach another). Answers to the runners' own connections still arrive: an
    // NSG is stateful, a flow allowed out is allowed back without an inbound rule.
    name: 'deny-vnet-inbound'
    properties: {
      priority: 4010
      direction: 'Inbound'
      access: 'Deny'
      protocol: '*'
      sourceAddressPrefix: 'VirtualNetwork'
      sourcePortRange: '*'
      destinationAddressPrefix: '*'
      destinationPortRange: '*'
    }
  }
  {
    // Everything else in the VNet and its peers, before AllowVnetOutBound (65000) can allow it.
    // Internet egress (forges, registries) stays as Azure's AllowInternetOutBound leaves it; DNS
    // and IMDS on the host's virtual IPs are not subject to NSG rules unless their own service
    // tags are named.
    name: 'deny-vnet-outbound'
    properties: {
      priority: 4000
      direction: 'Outbound'
      access: 'Deny'
      protocol: '*'
      sourceAddressPrefix: '*'
      sourcePortRange: '*'
      destinationAddressPrefix: 'VirtualNetwork'
      destinationPortRange: '*'
    }
  }
]

resource nsg 'Microsoft.Network/networkSecurityGroups@2024-05-01' = {
  name: 'nsg-${prefix}-runners'
  location: location
  tags: tags
  properties: {
    securityRules: concat([apiServerRule], privateEndpointRules, isolationRules)
  }
}

resource integrationNsg 'Microsoft.Network/networkSecurityGroups@2024-05-01' = if (enableVnetIntegration) {
  name: 'nsg-${prefix}-function-integration'
  location: location
  tags: tags
  properties: {
    securityRules: [
      {
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
output nsgName string = nsg.name
output runnerSubnetName string = runnerSubnet.name
output runnerSubnetId string = resourceId('Microsoft.Network/virtualNetworks/subnets', vnet.name, 'snet-runners')
output integrationSubnetId string = enableVnetIntegration ? resourceId('Microsoft.Network/virtualNetworks/subnets', vnet.name, 'snet-function-integration') : ''
