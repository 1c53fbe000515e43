"""What exists before the service under test makes its first call: subscriptions, resource groups,
locations, and the network a runner lands in: VNets with subnets, peerings, NSGs, private DNS zones
with their records and VNet links, and the AKS clusters runners deploy to.

References between resources are full resource IDs (build them with `vnet_id` and friends), so a
peering or a zone link may cross resource groups and subscriptions as it can in Azure.
"""

from __future__ import annotations

from dataclasses import dataclass, field
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


def vnet_id(resource_group: str, name: str, subscription: str = DEFAULT_SUBSCRIPTION_ID) -> str:
    return (
        f"/subscriptions/{subscription}/resourceGroups/{resource_group}"
        f"/providers/Microsoft.Network/virtualNetworks/{name}"
    )


def subnet_id(resource_group: str, vnet: str, name: str, subscription: str = DEFAULT_SUBSCRIPTION_ID) -> str:
    return f"{vnet_id(resource_group, vnet, subscription)}/subnets/{name}"


def nsg_id(resource_group: str, name: str, subscription: str = DEFAULT_SUBSCRIPTION_ID) -> str:
    return (
        f"/subscriptions/{subscription}/resourceGroups/{resource_group}"
        f"/providers/Microsoft.Network/networkSecurityGroups/{name}"
    )


def zone_id(resource_group: str, name: str, subscription: str = DEFAULT_SUBSCRIPTION_ID) -> str:
    return (
        f"/subscriptions/{subscription}/resourceGroups/{resource_group}"
        f"/providers/Microsoft.Network/privateDnsZones/{name}"
    )


def default_topology() -> Topology:
    """The network the example pools and the demo run in: the `demo` scenario (see `scenarios`)."""
    from simulator.arm.scenarios import demo_topology

    return demo_topology()


def default_subnet_id() -> str:
    return subnet_id("rg-runners", "vnet-runners", "snet-runners")
