"""What exists before the service under test makes its first call: subscriptions, resource groups,
locations, and the network a runner lands in: VNets with subnets, peerings, NSGs, private DNS zones
with their records and VNet links, the AKS clusters runners deploy to, and (specs in
`simulator.arm.network_specs`) the way out and the private endpoints jobs use: NAT gateways, route
tables, Azure Firewalls and their policies, IP groups, registries, key vaults, private endpoints.

References between resources are full resource IDs (build them with `vnet_id` and friends), so a
peering or a zone link may cross resource groups and subscriptions as it can in Azure.

`healthy_topology` is what a platform team should have: runner VNets peered both ways with the
cluster's VNet, the cluster's private DNS zone linked to every runner VNet, an A record with a private
address, Azure-provided DNS, roomy undelegated subnets and an NSG that admits nothing from the
Internet or the VNet and lets runners reach only their API server and the private endpoints of the
registry `acrprod` and key vault `kv-prod` (TCP 443), as infra/ deploys it; private runner subnets
(`defaultOutboundAccess: false`) that get out through a NAT gateway per VNet; the endpoints in the
cluster's VNet with their zones (`privatelink.azurecr.io`, `privatelink.vaultcore.azure.net`) linked
to every VNet. Runners for the second cluster (`aks-int`) have their own subnet and NSG. The scenarios
(`simulator.arm.scenarios`) each break one thing of it. `default_topology` is the demo's: healthy
for the first runner VNet, but the cluster's zone is not linked to the second (`vnet-ops`), so the
demo can show a pool refused by the preflight.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Literal

from simulator.arm.network_specs import (
    DEFAULT_SUBSCRIPTION,
    AzureFirewallSpec,
    EndpointAddress,
    FirewallPolicySpec,
    IpGroupSpec,
    KeyVaultSpec,
    NatGatewaySpec,
    PrivateEndpointSpec,
    RegistrySpec,
    RouteTableSpec,
    nat_gateway_id,
    private_endpoint_id,
    registry_id,
    vault_id,
)

DEFAULT_SUBSCRIPTION_ID = DEFAULT_SUBSCRIPTION
DEFAULT_LOCATION = "westeurope"

PeeringState = Literal["Connected", "Initiated", "Disconnected"]
PeeringSyncLevel = Literal["FullyInSync", "LocalNotInSync", "RemoteNotInSync", "LocalAndRemoteNotInSync"]


@dataclass(frozen=True)
class SubnetSpec:
    name: str
    address_prefix: str
    delegations: tuple[str, ...] = ()  # service names, e.g. "Microsoft.Web/serverFarms"
    nsg_id: str | None = None
    # NICs of other workloads already in the subnet (each takes one address, lowest first).
    occupied: int = 0
    nat_gateway_id: str | None = None
    route_table_id: str | None = None
    # None: the property is absent, as for subnets made with older API versions: default outbound
    # access is on. False: a private subnet, no implicit way to the Internet.
    default_outbound_access: bool | None = None


@dataclass(frozen=True)
class VNetSpec:
    resource_group: str
    name: str
    address_prefixes: tuple[str, ...]
    subnets: tuple[SubnetSpec, ...] = ()
    location: str | None = None  # None: the resource group's location
    dns_servers: tuple[str, ...] = ()  # dhcpOptions.dnsServers; empty: Azure-provided DNS
    # What the custom DNS servers do, which ARM cannot show: forward to 168.63.129.16 or not.
    dns_forwards_to_azure: bool = False


@dataclass(frozen=True)
class PeeringSpec:
    """One direction of a peering: a child of `vnet_id` pointing at `remote_vnet_id`."""

    name: str
    vnet_id: str
    remote_vnet_id: str
    state: PeeringState = "Connected"
    sync_level: PeeringSyncLevel = "FullyInSync"
    allow_virtual_network_access: bool = True


@dataclass(frozen=True)
class NsgRuleSpec:
    name: str
    priority: int
    direction: Literal["Inbound", "Outbound"]
    access: Literal["Allow", "Deny"]
    protocol: str = "*"
    # Comma-separated for several prefixes or ports (an augmented rule), as the portal takes them.
    source: str = "*"
    destination: str = "*"
    destination_ports: str = "*"


@dataclass(frozen=True)
class NsgSpec:
    resource_group: str
    name: str
    rules: tuple[NsgRuleSpec, ...] = ()
    location: str | None = None


@dataclass(frozen=True)
class ARecordSpec:
    name: str  # relative to the zone, e.g. "aks-prod-7f3a9c2e"
    addresses: tuple[str, ...]
    ttl: int = 10


@dataclass(frozen=True)
class ZoneLinkSpec:
    name: str
    vnet_id: str
    state: Literal["Completed", "InProgress"] = "Completed"
    provisioning_state: str = "Succeeded"
    registration_enabled: bool = False


@dataclass(frozen=True)
class PrivateZoneSpec:
    resource_group: str
    name: str  # e.g. "privatelink.westeurope.azmk8s.io"
    records: tuple[ARecordSpec, ...] = ()
    links: tuple[ZoneLinkSpec, ...] = ()


@dataclass(frozen=True)
class ManagedClusterSpec:
    resource_group: str
    name: str
    node_resource_group: str
    private_fqdn: str | None
    private_dns_zone: str = "system"  # "system", "none" or a private DNS zone resource ID
    node_subnet_id: str | None = None  # the agent pool's vnetSubnetID (None: a managed VNet)
    api_server_subnet_id: str | None = None  # API server VNet integration
    # Where the API server answers; with privateDNSZone "none" public DNS returns it for private_fqdn.
    api_server_address: str | None = None
    private: bool = True
    location: str | None = None
    kubernetes_version: str = "1.31.2"


@dataclass(frozen=True)
class ResourceGroupSpec:
    name: str
    location: str


@dataclass(frozen=True)
class SubscriptionSpec:
    id: str
    resource_groups: tuple[ResourceGroupSpec, ...] = ()
    vnets: tuple[VNetSpec, ...] = ()
    display_name: str = "runner-fleet"
    peerings: tuple[PeeringSpec, ...] = ()
    nsgs: tuple[NsgSpec, ...] = ()
    private_zones: tuple[PrivateZoneSpec, ...] = ()
    clusters: tuple[ManagedClusterSpec, ...] = ()
    nat_gateways: tuple[NatGatewaySpec, ...] = ()
    route_tables: tuple[RouteTableSpec, ...] = ()
    firewall_policies: tuple[FirewallPolicySpec, ...] = ()
    firewalls: tuple[AzureFirewallSpec, ...] = ()
    ip_groups: tuple[IpGroupSpec, ...] = ()
    registries: tuple[RegistrySpec, ...] = ()
    vaults: tuple[KeyVaultSpec, ...] = ()
    private_endpoints: tuple[PrivateEndpointSpec, ...] = ()


@dataclass(frozen=True)
class Topology:
    subscriptions: tuple[SubscriptionSpec, ...] = ()
    locations: tuple[str, ...] = (DEFAULT_LOCATION,)
    tenant_id: str = field(default="00000000-0000-0000-0000-0000000000aa")


def _provider_id(resource_group: str, resource_type: str, name: str, subscription: str) -> str:
    return f"/subscriptions/{subscription}/resourceGroups/{resource_group}/providers/{resource_type}/{name}"


def vnet_id(resource_group: str, name: str, subscription: str = DEFAULT_SUBSCRIPTION_ID) -> str:
    return _provider_id(resource_group, "Microsoft.Network/virtualNetworks", name, subscription)


def subnet_id(resource_group: str, vnet: str, name: str, subscription: str = DEFAULT_SUBSCRIPTION_ID) -> str:
    return f"{vnet_id(resource_group, vnet, subscription)}/subnets/{name}"


def nsg_id(resource_group: str, name: str, subscription: str = DEFAULT_SUBSCRIPTION_ID) -> str:
    return _provider_id(resource_group, "Microsoft.Network/networkSecurityGroups", name, subscription)


def zone_id(resource_group: str, name: str, subscription: str = DEFAULT_SUBSCRIPTION_ID) -> str:
    return _provider_id(resource_group, "Microsoft.Network/privateDnsZones", name, subscription)


def cluster_id(resource_group: str, name: str, subscription: str = DEFAULT_SUBSCRIPTION_ID) -> str:
    return _provider_id(resource_group, "Microsoft.ContainerService/managedClusters", name, subscription)


# --- the healthy network, and the demo's ------------------------------------------------------------

AKS_ZONE = "privatelink.westeurope.azmk8s.io"
AKS_FQDN = f"aks-prod-7f3a9c2e.{AKS_ZONE}"
AKS_ADDRESS = "10.10.0.4"
AKS_ZONE_ID = zone_id("rg-aks", AKS_ZONE)
AKS_CLUSTER_ID = cluster_id("rg-aks", "aks-prod")
# A second cluster with API server VNet integration and an AKS-managed ("system") zone.
INT_NODE_RG = "MC_rg-aks_aks-int_westeurope"
INT_ZONE = "5a7f3c21-8d4b-4e6a-9f0c-1b2d3e4f5a6b.private.westeurope.azmk8s.io"
INT_FQDN = f"aks-int-4b1c9d2e.{INT_ZONE}"
INT_ADDRESS = "10.10.4.4"
INT_CLUSTER_ID = cluster_id("rg-aks", "aks-int")

RUNNERS_VNET = vnet_id("rg-runners", "vnet-runners")
OPS_VNET = vnet_id("rg-runners", "vnet-ops")
AKS_VNET = vnet_id("rg-aks", "vnet-aks")
RUNNERS_SUBNET = subnet_id("rg-runners", "vnet-runners", "snet-runners")
INT_SUBNET = subnet_id("rg-runners", "vnet-runners", "snet-runners-int")
OPS_SUBNET = subnet_id("rg-runners", "vnet-ops", "snet-ops")
RUNNERS_NSG = nsg_id("rg-runners", "nsg-runners")
INT_NSG = nsg_id("rg-runners", "nsg-runners-int")
CUSTOM_DNS_SERVERS = ("10.20.255.4", "10.20.255.5")
API_SERVER_RULE = "allow-api-server-https-outbound"
ENDPOINTS_RULE = "allow-private-endpoints-https-outbound"
PUBLIC_ADDRESS = "20.61.45.12"

# Egress as infra/modules/runner-network.bicep deploys it: private subnets (defaultOutboundAccess
# false) behind a NAT gateway with one public IP. A NAT gateway serves subnets of one VNet only.
NAT_GATEWAY = "ng-runners"
NAT_GATEWAY_ID = nat_gateway_id("rg-runners", NAT_GATEWAY)
NAT_PUBLIC_IP = "20.50.20.4"
OPS_NAT_GATEWAY = "ng-ops"
OPS_NAT_GATEWAY_ID = nat_gateway_id("rg-runners", OPS_NAT_GATEWAY)
OPS_NAT_PUBLIC_IP = "20.50.20.5"

# Private endpoints of a container registry and a key vault jobs use, in the cluster's VNet.
ENDPOINTS_SUBNET = subnet_id("rg-aks", "vnet-aks", "snet-endpoints")
ACR_NAME = "acrprod"
ACR_ID = registry_id("rg-aks", ACR_NAME)
ACR_FQDN = f"{ACR_NAME}.azurecr.io"
ACR_DATA_FQDN = f"{ACR_NAME}.westeurope.data.azurecr.io"
ACR_ZONE = "privatelink.azurecr.io"
ACR_ZONE_ID = zone_id("rg-aks", ACR_ZONE)
ACR_PE = "pe-acrprod"
ACR_PE_ID = private_endpoint_id("rg-aks", ACR_PE)
ACR_ADDRESS = "10.10.12.4"
ACR_DATA_ADDRESS = "10.10.12.5"
ACR_PUBLIC_ADDRESS = "20.61.45.40"
KEYVAULT_NAME = "kv-prod"
KEYVAULT_ID = vault_id("rg-aks", KEYVAULT_NAME)
KEYVAULT_FQDN = f"{KEYVAULT_NAME}.vault.azure.net"
KEYVAULT_ZONE = "privatelink.vaultcore.azure.net"
KEYVAULT_ZONE_ID = zone_id("rg-aks", KEYVAULT_ZONE)
KEYVAULT_PE = "pe-kv-prod"
KEYVAULT_PE_ID = private_endpoint_id("rg-aks", KEYVAULT_PE)
KEYVAULT_ADDRESS = "10.10.12.6"
KEYVAULT_PUBLIC_ADDRESS = "20.61.45.41"
ENDPOINT_ADDRESSES = (ACR_ADDRESS, ACR_DATA_ADDRESS, KEYVAULT_ADDRESS)
ENDPOINT_FQDNS = (ACR_FQDN, ACR_DATA_FQDN, KEYVAULT_FQDN)


def healthy_topology() -> Topology:
    sub = DEFAULT_SUBSCRIPTION_ID
    return Topology(
        subscriptions=(
            SubscriptionSpec(
                id=sub,
                resource_groups=(
                    ResourceGroupSpec("rg-runners", DEFAULT_LOCATION),
                    ResourceGroupSpec("rg-aks", DEFAULT_LOCATION),
                    ResourceGroupSpec("MC_rg-aks_aks-prod_westeurope", DEFAULT_LOCATION),
                    ResourceGroupSpec(INT_NODE_RG, DEFAULT_LOCATION),
                ),
                vnets=(
                    VNetSpec(
                        "rg-runners",
                        "vnet-runners",
                        ("10.20.0.0/16",),
                        (
                            _private_subnet("snet-runners", "10.20.0.0/24", RUNNERS_NSG, NAT_GATEWAY_ID),
                            _private_subnet("snet-runners-int", "10.20.1.0/24", INT_NSG, NAT_GATEWAY_ID),
                        ),
                    ),
                    VNetSpec(
                        "rg-runners",
                        "vnet-ops",
                        ("10.30.0.0/16",),
                        (_private_subnet("snet-ops", "10.30.0.0/24", RUNNERS_NSG, OPS_NAT_GATEWAY_ID),),
                    ),
                    VNetSpec(
                        "rg-aks",
                        "vnet-aks",
                        ("10.10.0.0/16",),
                        (
                            SubnetSpec("snet-aks-nodes", "10.10.0.0/22"),
                            SubnetSpec(
                                "snet-aks-apiserver",
                                "10.10.4.0/28",
                                delegations=("Microsoft.ContainerService/managedClusters",),
                            ),
                            SubnetSpec("snet-aks-int-nodes", "10.10.8.0/22"),
                            SubnetSpec("snet-endpoints", "10.10.12.0/24"),
                        ),
                    ),
                ),
                peerings=(
                    PeeringSpec("runners-to-aks", RUNNERS_VNET, AKS_VNET),
                    PeeringSpec("aks-to-runners", AKS_VNET, RUNNERS_VNET),
                    PeeringSpec("ops-to-aks", OPS_VNET, AKS_VNET),
                    PeeringSpec("aks-to-ops", AKS_VNET, OPS_VNET),
                ),
                nsgs=(
                    NsgSpec("rg-runners", "nsg-runners", isolated_rules(AKS_ADDRESS, ENDPOINT_ADDRESSES)),
                    NsgSpec("rg-runners", "nsg-runners-int", isolated_rules(INT_ADDRESS, ENDPOINT_ADDRESSES)),
                ),
                private_zones=(
                    PrivateZoneSpec(
                        "rg-aks",
                        AKS_ZONE,
                        (ARecordSpec("aks-prod-7f3a9c2e", (AKS_ADDRESS,)),),
                        (
                            ZoneLinkSpec("link-vnet-aks", AKS_VNET),
                            ZoneLinkSpec("link-vnet-runners", RUNNERS_VNET),
                            ZoneLinkSpec("link-vnet-ops", OPS_VNET),
                        ),
                    ),
                    PrivateZoneSpec(
                        INT_NODE_RG,
                        INT_ZONE,
                        (ARecordSpec("aks-int-4b1c9d2e", (INT_ADDRESS,)),),
                        (
                            ZoneLinkSpec("aks-int-vnet-link", AKS_VNET),
                            ZoneLinkSpec("link-vnet-runners", RUNNERS_VNET),
                            ZoneLinkSpec("link-vnet-ops", OPS_VNET),
                        ),
                    ),
                    # Their A records come from the endpoints' zone groups (seeding_network).
                    PrivateZoneSpec("rg-aks", ACR_ZONE, links=_links_to_every_vnet()),
                    PrivateZoneSpec("rg-aks", KEYVAULT_ZONE, links=_links_to_every_vnet()),
                ),
                clusters=(
                    ManagedClusterSpec(
                        "rg-aks",
                        "aks-prod",
                        "MC_rg-aks_aks-prod_westeurope",
                        AKS_FQDN,
                        private_dns_zone=AKS_ZONE_ID,
                        node_subnet_id=subnet_id("rg-aks", "vnet-aks", "snet-aks-nodes"),
                        api_server_address=AKS_ADDRESS,
                    ),
                    ManagedClusterSpec(
                        "rg-aks",
                        "aks-int",
                        INT_NODE_RG,
                        INT_FQDN,
                        private_dns_zone="system",
                        node_subnet_id=subnet_id("rg-aks", "vnet-aks", "snet-aks-int-nodes"),
                        api_server_subnet_id=subnet_id("rg-aks", "vnet-aks", "snet-aks-apiserver"),
                        api_server_address=INT_ADDRESS,
                    ),
                ),
                nat_gateways=(
                    NatGatewaySpec("rg-runners", NAT_GATEWAY, (NAT_PUBLIC_IP,)),
                    NatGatewaySpec("rg-runners", OPS_NAT_GATEWAY, (OPS_NAT_PUBLIC_IP,)),
                ),
                registries=(RegistrySpec("rg-aks", ACR_NAME, ACR_PUBLIC_ADDRESS),),
                vaults=(KeyVaultSpec("rg-aks", KEYVAULT_NAME, KEYVAULT_PUBLIC_ADDRESS),),
                private_endpoints=(
                    PrivateEndpointSpec(
                        "rg-aks",
                        ACR_PE,
                        ENDPOINTS_SUBNET,
                        ACR_ID,
                        "registry",
                        (
                            EndpointAddress(ACR_FQDN, ACR_ADDRESS),
                            EndpointAddress(ACR_DATA_FQDN, ACR_DATA_ADDRESS),
                        ),
                        zone_ids=(ACR_ZONE_ID,),
                    ),
                    PrivateEndpointSpec(
                        "rg-aks",
                        KEYVAULT_PE,
                        ENDPOINTS_SUBNET,
                        KEYVAULT_ID,
                        "vault",
                        (EndpointAddress(KEYVAULT_FQDN, KEYVAULT_ADDRESS),),
                        zone_ids=(KEYVAULT_ZONE_ID,),
                    ),
                ),
            ),
        ),
        locations=(DEFAULT_LOCATION,),
    )


def _private_subnet(name: str, prefix: str, nsg: str, nat_gateway: str) -> SubnetSpec:
    return SubnetSpec(name, prefix, nsg_id=nsg, nat_gateway_id=nat_gateway, default_outbound_access=False)


def _links_to_every_vnet() -> tuple[ZoneLinkSpec, ...]:
    return (
        ZoneLinkSpec("link-vnet-aks", AKS_VNET),
        ZoneLinkSpec("link-vnet-runners", RUNNERS_VNET),
        ZoneLinkSpec("link-vnet-ops", OPS_VNET),
    )


PRIVATE_RANGES = "10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16, 100.64.0.0/10"


def isolated_rules(
    api_server: str, endpoints: tuple[str, ...] = (), *, through_firewall: bool = False
) -> tuple[NsgRuleSpec, ...]:
    """The runner NSG infra/modules/runner-network.bicep deploys: TCP 443 to the API server and to the
    listed private endpoints, no more. Behind a route to a firewall the VNet deny names the private
    ranges instead of VirtualNetwork, whose tag then holds the route's 0.0.0.0/0."""
    rules = [NsgRuleSpec(API_SERVER_RULE, 100, "Outbound", "Allow", "Tcp", "*", api_server, "443")]
    if endpoints:
        rules.append(
            NsgRuleSpec(ENDPOINTS_RULE, 110, "Outbound", "Allow", "Tcp", "*", ", ".join(endpoints), "443")
        )
    rules += [
        NsgRuleSpec("allow-azure-load-balancer-inbound", 3900, "Inbound", "Allow", "*", "AzureLoadBalancer"),
        NsgRuleSpec("deny-internet-inbound", 4000, "Inbound", "Deny", "*", "Internet"),
        NsgRuleSpec("deny-vnet-inbound", 4010, "Inbound", "Deny", "*", "VirtualNetwork"),
        NsgRuleSpec("deny-private-outbound", 4000, "Outbound", "Deny", "*", "*", PRIVATE_RANGES)
        if through_firewall
        else NsgRuleSpec("deny-vnet-outbound", 4000, "Outbound", "Deny", "*", "*", "VirtualNetwork"),
    ]
    return tuple(rules)


def default_topology() -> Topology:
    """The network the example pools and the demo run in (the `demo` scenario)."""
    topology = healthy_topology()
    [sub] = topology.subscriptions

    def unlinked_from_ops(zone: PrivateZoneSpec) -> PrivateZoneSpec:
        return replace(zone, links=tuple(link for link in zone.links if link.name != "link-vnet-ops"))

    zones = tuple(unlinked_from_ops(z) if z.name == AKS_ZONE else z for z in sub.private_zones)
    return replace(topology, subscriptions=(replace(sub, private_zones=zones),))


def default_subnet_id() -> str:
    return RUNNERS_SUBNET
