"""What exists before the service under test makes its first call: subscriptions, resource groups,
locations, and the network a runner lands in: VNets with subnets, peerings, NSGs, private DNS zones
with their records and VNet links, and the AKS clusters runners deploy to.

References between resources are full resource IDs (build them with `vnet_id` and friends), so a
peering or a zone link may cross resource groups and subscriptions as it can in Azure.

`healthy_topology` is what a platform team should have: runner VNets peered both ways with the
cluster's VNet, the cluster's private DNS zone linked to every runner VNet, an A record with a private
address, Azure-provided DNS, roomy undelegated subnets and an NSG that admits nothing from the
Internet or the VNet and lets runners reach only their API server (TCP 443), as infra/ deploys it;
runners for the second cluster (`aks-int`) have their own subnet and NSG. The scenarios
(`simulator.arm.scenarios`) each break one thing of it. `default_topology` is the demo's: healthy
for the first runner VNet, but the cluster's zone is not linked to the second (`vnet-ops`), so the
demo can show a pool refused by the preflight.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Literal

DEFAULT_SUBSCRIPTION_ID = "00000000-0000-0000-0000-000000000001"
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
PUBLIC_ADDRESS = "20.61.45.12"


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
                            SubnetSpec("snet-runners", "10.20.0.0/24", nsg_id=RUNNERS_NSG),
                            SubnetSpec("snet-runners-int", "10.20.1.0/24", nsg_id=INT_NSG),
                        ),
                    ),
                    VNetSpec(
                        "rg-runners",
                        "vnet-ops",
                        ("10.30.0.0/16",),
                        (SubnetSpec("snet-ops", "10.30.0.0/24", nsg_id=RUNNERS_NSG),),
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
                    NsgSpec("rg-runners", "nsg-runners", isolated_rules(AKS_ADDRESS)),
                    NsgSpec("rg-runners", "nsg-runners-int", isolated_rules(INT_ADDRESS)),
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
            ),
        ),
        locations=(DEFAULT_LOCATION,),
    )


def isolated_rules(api_server: str) -> tuple[NsgRuleSpec, ...]:
    """The runner NSG infra/modules/runner-network.bicep deploys: TCP 443 to the API server, no more."""
    return (
        NsgRuleSpec(API_SERVER_RULE, 100, "Outbound", "Allow", "Tcp", "*", api_server, "443"),
        NsgRuleSpec("allow-azure-load-balancer-inbound", 3900, "Inbound", "Allow", "*", "AzureLoadBalancer"),
        NsgRuleSpec("deny-internet-inbound", 4000, "Inbound", "Deny", "*", "Internet"),
        NsgRuleSpec("deny-vnet-inbound", 4010, "Inbound", "Deny", "*", "VirtualNetwork"),
        NsgRuleSpec("deny-vnet-outbound", 4000, "Outbound", "Deny", "*", "*", "VirtualNetwork"),
    )


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
