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

@description('Give runners outbound Internet access (forges, registries) through a NAT gateway; ignored when egressFirewallIp is set.')
param createNatGateway bool

@description('Private IP address of an existing firewall or network virtual appliance, in this VNet or one peered with it, that runners reach the Internet through; empty: none. When set, a route table sends the runner subnet\'s 0.0.0.0/0 to it and no NAT gateway is made.')
param egressFirewallIp string = ''

// One way out, never two: "custom routes directing 0.0.0.0/0 traffic to an NVA will take precedence
// over NAT gateway" (troubleshoot-nat-connectivity), so a NAT gateway next to the route would be an
// unused public IP, and a path around the firewall the moment the route is removed.
var throughFirewall = !empty(egressFirewallIp)
var throughNatGateway = createNatGateway && !throughFirewall
var natGatewayName = 'ng-${prefix}-runners'
var routeTableName = 'rt-${prefix}-runners'

var runnerSubnet = {
  name: 'snet-runners'
  properties: {
    addressPrefix: runnerSubnetPrefix
    networkSecurityGroup: {
      id: nsg.id
    }
    // A private subnet: no implicit Internet access, whatever the API version's default. Runners get
    // out only the way chosen here (the NAT gateway, or the route to the firewall), or not at all.
    defaultOutboundAccess: false
    natGateway: throughNatGateway ? { id: natGateway.id } : null
    routeTable: throughFirewall ? { id: routeTable.id } : null
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

// Everything else in the VNet and its peers, before AllowVnetOutBound (65000) can allow it.
// Internet egress (forges, registries) stays as Azure's default rules leave it; DNS and IMDS on the
// host's virtual IPs are not subject to NSG rules unless their own service tags are named.
var denyVnetOutbound = {
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

// A default route that is not Azure's own puts its prefix in the VirtualNetwork tag ("address
// prefixes used on user-defined routes. This tag might also contain default routes": service tags
// overview): with 0.0.0.0/0 to a firewall (or learned from elsewhere, when this template makes no
// way out), a deny to VirtualNetwork would deny the Internet as well and no runner would reach its
// forge. The VNet and its peers are then named by the private ranges they are in (RFC 1918 and the
// RFC 6598 shared space, the ranges Azure's system routes drop by default).
var privateRanges = [
  '10.0.0.0/8'
  '172.16.0.0/12'
  '192.168.0.0/16'
  '100.64.0.0/10'
]
var denyPrivateOutbound = {
  name: 'deny-private-outbound'
  properties: {
    priority: 4000
    direction: 'Outbound'
    access: 'Deny'
    protocol: '*'
    sourceAddressPrefix: '*'
    sourcePortRange: '*'
    destinationAddressPrefixes: privateRanges
    destinationPortRange: '*'
  }
}

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
  throughNatGateway ? denyVnetOutbound : denyPrivateOutbound
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

resource egressIp 'Microsoft.Network/publicIPAddresses@2024-05-01' = if (throughNatGateway) {
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

resource natGateway 'Microsoft.Network/natGateways@2024-05-01' = if (throughNatGateway) {
  name: natGatewayName
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

// Everything not in the VNet or a peer (their system routes are more specific and stay direct, so
// the API server and private endpoints are reached without the firewall) goes to the firewall.
resource routeTable 'Microsoft.Network/routeTables@2024-05-01' = if (throughFirewall) {
  name: routeTableName
  location: location
  tags: tags
  properties: {
    // Nothing learned over BGP (a gateway's routes) may take runners' traffic past the firewall.
    disableBgpRoutePropagation: true
    routes: [
      {
        name: 'default-to-firewall'
        properties: {
          addressPrefix: '0.0.0.0/0'
          nextHopType: 'VirtualAppliance'
          nextHopIpAddress: egressFirewallIp
        }
      }
    ]
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
// How runners get out, for the deployment's outputs; and what the preflight is given read access to.
output egress string = throughFirewall ? 'firewall ${egressFirewallIp}' : (throughNatGateway ? 'nat-gateway' : 'none')
output natGatewayName string = throughNatGateway ? natGatewayName : ''
output routeTableName string = throughFirewall ? routeTableName : ''
