"""The resource types the simulator stores, as ARM spells them (the store compares them lower-cased)."""

from __future__ import annotations

VNET_TYPE = "Microsoft.Network/virtualNetworks"
SUBNET_TYPE = "Microsoft.Network/virtualNetworks/subnets"
PEERING_TYPE = "Microsoft.Network/virtualNetworks/virtualNetworkPeerings"
NIC_TYPE = "Microsoft.Network/networkInterfaces"
PIP_TYPE = "Microsoft.Network/publicIPAddresses"
NSG_TYPE = "Microsoft.Network/networkSecurityGroups"
ZONE_TYPE = "Microsoft.Network/privateDnsZones"
A_RECORD_TYPE = "Microsoft.Network/privateDnsZones/A"
LINK_TYPE = "Microsoft.Network/privateDnsZones/virtualNetworkLinks"
AKS_TYPE = "Microsoft.ContainerService/managedClusters"
