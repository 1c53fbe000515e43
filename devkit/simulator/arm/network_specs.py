"""Specs of the resources on a runner's way out and to its private endpoints: NAT gateways with their
public IPs, route tables, Azure Firewalls with classic rules or a firewall policy (rule collection
groups, IP groups), private endpoints with their DNS zone groups, and the private-link targets
(container registries, key vaults) they connect to.

They are listed on a `SubscriptionSpec` (see `simulator.arm.topology`) and seeded with the bodies
the network API 2024-05-01 returns (`simulator.arm.seeding_network`). References between resources
are full resource IDs, made with the `*_id` helpers below.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

NextHopType = Literal["VirtualNetworkGateway", "VnetLocal", "Internet", "VirtualAppliance", "None"]
Action = Literal["Allow", "Deny"]
ConnectionStatus = Literal["Approved", "Pending", "Rejected", "Disconnected"]

DEFAULT_SUBSCRIPTION = "00000000-0000-0000-0000-000000000001"


@dataclass(frozen=True)
class NatGatewaySpec:
    resource_group: str
    name: str
    # Public IP addresses the seeding makes (pip-<name>-<n>); none and no prefix: no egress at all.
    public_ips: tuple[str, ...] = ()
    public_ip_prefixes: tuple[str, ...] = ()  # CIDRs, e.g. "20.50.60.0/31"
    idle_timeout_minutes: int = 4
    location: str | None = None


@dataclass(frozen=True)
class RouteSpec:
    name: str
    address_prefix: str
    next_hop_type: NextHopType
    next_hop_ip: str | None = None  # VirtualAppliance only


@dataclass(frozen=True)
class RouteTableSpec:
    resource_group: str
    name: str
    routes: tuple[RouteSpec, ...] = ()
    disable_bgp_route_propagation: bool = False
    location: str | None = None


@dataclass(frozen=True)
class ApplicationRuleSpec:
    """An application rule: TLS SNI / HTTP Host against `target_fqdns` (`*.x` wildcards, `*`)."""

    name: str
    target_fqdns: tuple[str, ...] = ()
    protocols: tuple[tuple[Literal["Http", "Https", "Mssql"], int], ...] = (("Https", 443),)
    source_addresses: tuple[str, ...] = ("*",)
    source_ip_groups: tuple[str, ...] = ()
    fqdn_tags: tuple[str, ...] = ()
    web_categories: tuple[str, ...] = ()  # policy rules only


@dataclass(frozen=True)
class NetworkRuleSpec:
    name: str
    protocols: tuple[Literal["TCP", "UDP", "Any", "ICMP"], ...] = ("TCP",)
    source_addresses: tuple[str, ...] = ("*",)
    source_ip_groups: tuple[str, ...] = ()
    destination_addresses: tuple[str, ...] = ()
    destination_ip_groups: tuple[str, ...] = ()
    destination_fqdns: tuple[str, ...] = ()  # honoured only with DNS proxy on
    destination_ports: tuple[str, ...] = ("443",)


Rule = ApplicationRuleSpec | NetworkRuleSpec


@dataclass(frozen=True)
class RuleCollectionSpec:
    """A filter rule collection: rules of one kind (application or network), one action."""

    name: str
    priority: int
    action: Action
    rules: tuple[Rule, ...]


@dataclass(frozen=True)
class RuleCollectionGroupSpec:
    name: str
    priority: int
    collections: tuple[RuleCollectionSpec, ...] = ()


@dataclass(frozen=True)
class FirewallPolicySpec:
    resource_group: str
    name: str
    groups: tuple[RuleCollectionGroupSpec, ...] = ()
    base_policy_id: str | None = None
    dns_proxy: bool = False
    tier: Literal["Basic", "Standard", "Premium"] = "Standard"
    location: str | None = None


@dataclass(frozen=True)
class AzureFirewallSpec:
    """A firewall in a hub VNet's AzureFirewallSubnet: a policy, or classic rule collections."""

    resource_group: str
    name: str
    subnet_id: str  # .../subnets/AzureFirewallSubnet
    private_ip: str
    public_ip: str = "20.50.10.4"
    firewall_policy_id: str | None = None
    application_collections: tuple[RuleCollectionSpec, ...] = ()
    network_collections: tuple[RuleCollectionSpec, ...] = ()
    dns_proxy: bool = False  # classic: additionalProperties["Network.DNS.EnableProxy"]
    location: str | None = None


@dataclass(frozen=True)
class IpGroupSpec:
    resource_group: str
    name: str
    ip_addresses: tuple[str, ...]
    location: str | None = None


@dataclass(frozen=True)
class EndpointAddress:
    """One name a private endpoint serves (customDnsConfigs) and its private address."""

    fqdn: str  # the resource's public name, e.g. acrprod.azurecr.io
    address: str


@dataclass(frozen=True)
class PrivateEndpointSpec:
    resource_group: str
    name: str
    subnet_id: str
    target_id: str  # the registry, vault, ... (privateLinkServiceId)
    group_id: str  # "registry", "vault", ...
    addresses: tuple[EndpointAddress, ...]
    status: ConnectionStatus = "Approved"
    # A manual connection (manualPrivateLinkServiceConnections) waits for the owner's approval.
    manual: bool = False
    # Zone group `default`: the private DNS zones whose A records the endpoint keeps (IDs).
    zone_ids: tuple[str, ...] = ()
    location: str | None = None


@dataclass(frozen=True)
class RegistrySpec:
    resource_group: str
    name: str
    # What public DNS answers for the login server (None: a made-up address from the name).
    public_address: str | None = None
    public_network_access: Literal["Enabled", "Disabled"] = "Disabled"
    location: str | None = None


@dataclass(frozen=True)
class KeyVaultSpec:
    resource_group: str
    name: str
    public_address: str | None = None
    public_network_access: Literal["Enabled", "Disabled"] = "Disabled"
    location: str | None = None


def _network_id(resource_group: str, type_name: str, name: str, subscription: str) -> str:
    return (
        f"/subscriptions/{subscription}/resourceGroups/{resource_group}/providers/Microsoft.Network/"
        f"{type_name}/{name}"
    )


def nat_gateway_id(resource_group: str, name: str, subscription: str = DEFAULT_SUBSCRIPTION) -> str:
    return _network_id(resource_group, "natGateways", name, subscription)


def route_table_id(resource_group: str, name: str, subscription: str = DEFAULT_SUBSCRIPTION) -> str:
    return _network_id(resource_group, "routeTables", name, subscription)


def firewall_id(resource_group: str, name: str, subscription: str = DEFAULT_SUBSCRIPTION) -> str:
    return _network_id(resource_group, "azureFirewalls", name, subscription)


def firewall_policy_id(resource_group: str, name: str, subscription: str = DEFAULT_SUBSCRIPTION) -> str:
    return _network_id(resource_group, "firewallPolicies", name, subscription)


def ip_group_id(resource_group: str, name: str, subscription: str = DEFAULT_SUBSCRIPTION) -> str:
    return _network_id(resource_group, "ipGroups", name, subscription)


def private_endpoint_id(resource_group: str, name: str, subscription: str = DEFAULT_SUBSCRIPTION) -> str:
    return _network_id(resource_group, "privateEndpoints", name, subscription)


def registry_id(resource_group: str, name: str, subscription: str = DEFAULT_SUBSCRIPTION) -> str:
    return (
        f"/subscriptions/{subscription}/resourceGroups/{resource_group}/providers/"
        f"Microsoft.ContainerRegistry/registries/{name}"
    )


def vault_id(resource_group: str, name: str, subscription: str = DEFAULT_SUBSCRIPTION) -> str:
    return (
        f"/subscriptions/{subscription}/resourceGroups/{resource_group}/providers/"
        f"Microsoft.KeyVault/vaults/{name}"
    )
