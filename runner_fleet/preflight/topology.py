"""What the preflight learned about a pool's network: plain facts, read once, checked without I/O.

Every lookup is a `Lookup`: the value, or nothing (the resource does not exist), or the reason it
could not be read (most often a missing role assignment). Checks turn these into verdicts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, Literal, TypeVar

from runner_fleet.preflight.forge_hosts import ForgeHost
from runner_fleet.preflight.ids import is_private_endpoint_id

T = TypeVar("T")

# Why a zone must be linked to the runner VNet: it holds the API server's name, the pool lists it,
# or a private endpoint the pool lists registers its records there (its DNS zone group).
ZoneRole = Literal["api-server", "extra", "endpoint"]


@dataclass(frozen=True)
class Lookup(Generic[T]):
    resource: str  # the resource ID (or name) that was looked up
    value: T | None = None
    error: str | None = None  # why it could not be read; None with no value means "not found"

    @property
    def missing(self) -> bool:
        return self.value is None and self.error is None


@dataclass(frozen=True)
class PeeringFacts:
    id: str
    name: str
    remote_vnet_id: str
    state: str  # Connected | Initiated | Disconnected
    sync_level: str  # FullyInSync | LocalNotInSync | RemoteNotInSync | LocalAndRemoteNotInSync
    allow_virtual_network_access: bool
    remote_prefixes: tuple[str, ...] = ()


@dataclass(frozen=True)
class VNetFacts:
    id: str
    name: str
    location: str
    address_prefixes: tuple[str, ...]
    dns_servers: tuple[str, ...] = ()
    peerings: tuple[PeeringFacts, ...] = ()


@dataclass(frozen=True)
class SubnetFacts:
    id: str
    name: str
    address_prefixes: tuple[str, ...]
    delegations: tuple[str, ...] = ()  # service names
    nsg_id: str | None = None
    ip_configuration_ids: tuple[str, ...] = ()  # every NIC IP configuration in the subnet
    nat_gateway_id: str | None = None
    route_table_id: str | None = None
    # None: the property is absent (subnets made with older API versions), which means on.
    default_outbound_access: bool | None = None


@dataclass(frozen=True)
class NsgRule:
    name: str
    priority: int
    direction: str  # Inbound | Outbound
    access: str  # Allow | Deny
    protocol: str  # * | Tcp | Udp | Icmp | ...
    sources: tuple[str, ...]
    destinations: tuple[str, ...]
    destination_ports: tuple[str, ...]
    default: bool = False
    source_ports: tuple[str, ...] = ("*",)
    # Application security groups (resource IDs) a rule names instead of address prefixes.
    source_asgs: tuple[str, ...] = ()
    destination_asgs: tuple[str, ...] = ()


@dataclass(frozen=True)
class NsgFacts:
    id: str
    name: str
    rules: tuple[NsgRule, ...]  # custom and default rules together
    subnet_ids: tuple[str, ...] = ()  # the subnets it is associated with


@dataclass(frozen=True)
class ZoneLinkFacts:
    id: str
    name: str
    vnet_id: str
    state: str  # virtualNetworkLinkState: Completed | InProgress
    provisioning_state: str


@dataclass(frozen=True)
class ZoneFacts:
    id: str
    name: str
    links: tuple[ZoneLinkFacts, ...] = ()


@dataclass(frozen=True)
class AksFacts:
    """An AKS managed cluster as the API shows it."""

    id: str
    name: str
    location: str
    private: bool
    private_fqdn: str | None
    public_fqdn: str | None
    private_dns_zone: str | None  # "system", "none", a zone resource ID, or None
    node_resource_group: str | None
    node_subnet_ids: tuple[str, ...] = ()
    api_server_subnet_id: str | None = None  # API server VNet integration


@dataclass(frozen=True)
class ApiServer:
    """Where the pool's jobs must reach: the private cluster's API server, however it was found."""

    resource: str  # the AKS cluster ID, or the configured FQDN
    fqdn: str | None
    private: bool = True
    zone_mode: Literal["zone", "none"] = "zone"  # "none": the FQDN is in public DNS
    zone_id: str | None = None
    cluster_vnet_id: str | None = None  # known from AKS; found from the address otherwise
    source: Literal["aks", "configured"] = "configured"


@dataclass(frozen=True)
class ZoneCheck:
    zone: Lookup[ZoneFacts]
    role: ZoneRole


@dataclass(frozen=True)
class ImageFacts:
    reference: str  # publisher:offer:sku:version or a resource ID
    checked: bool  # False: the API cannot tell us (custom images are validated at VM creation)
    found: bool = False
    resolved_version: str | None = None


@dataclass(frozen=True)
class SizeOffer:
    restriction: str | None = None  # e.g. NotAvailableForSubscription; None when usable


@dataclass(frozen=True)
class RouteFacts:
    name: str
    address_prefix: str  # a CIDR prefix, or a service tag
    next_hop_type: str  # VirtualNetworkGateway | VnetLocal | Internet | VirtualAppliance | None
    next_hop_ip: str | None = None


@dataclass(frozen=True)
class RouteTableFacts:
    id: str
    name: str
    routes: tuple[RouteFacts, ...] = ()
    disable_bgp_route_propagation: bool = False


@dataclass(frozen=True)
class NatGatewayFacts:
    id: str
    name: str
    provisioning_state: str
    public_ip_ids: tuple[str, ...] = ()
    public_ip_prefix_ids: tuple[str, ...] = ()


RuleKind = Literal["application", "network"]


@dataclass(frozen=True)
class FirewallRule:
    """One rule of an Azure Firewall (classic collections) or of a firewall policy, with its place.

    `level` is how far up the policy chain the rule comes from: 0 the firewall's own policy (or its
    classic collections), 1 its base policy, 2 the base's base. `group_priority` is 0 for classic
    collections, which have no groups.
    """

    kind: RuleKind
    name: str
    action: str  # Allow | Deny
    collection: str
    collection_priority: int
    group: str = ""
    group_priority: int = 0
    level: int = 0
    sources: tuple[str, ...] = ()
    source_ip_groups: tuple[str, ...] = ()  # IP group resource IDs
    app_protocols: tuple[tuple[str, int], ...] = ()  # application rules: (Http|Https|Mssql, port)
    ip_protocols: tuple[str, ...] = ()  # network rules: TCP | UDP | Any | ICMP
    target_fqdns: tuple[str, ...] = ()
    fqdn_tags: tuple[str, ...] = ()
    web_categories: tuple[str, ...] = ()
    destination_addresses: tuple[str, ...] = ()
    destination_ip_groups: tuple[str, ...] = ()
    destination_fqdns: tuple[str, ...] = ()
    destination_ports: tuple[str, ...] = ()

    @property
    def inherited(self) -> bool:
        """The rule comes from a base (parent) policy: it is processed before the child's."""
        return self.level > 0


@dataclass(frozen=True)
class FirewallPolicyFacts:
    id: str
    name: str
    base_policy_id: str | None = None
    dns_proxy: bool | None = None  # dnsSettings.enableProxy; None when the policy does not say
    rules: tuple[FirewallRule, ...] = ()  # level 0: the caller places the policy in its chain


@dataclass(frozen=True)
class FirewallFacts:
    """An Azure Firewall, with the rules of its policy chain (or its classic collections) gathered.

    The reader returns the firewall as the resource shows it (addresses, policy ID, classic rules);
    discovery adds its policies' rules and the IP groups they name, and says what it could not read.
    """

    id: str
    name: str
    private_ips: tuple[str, ...] = ()  # ipConfigurations[].privateIPAddress and hubIPAddresses
    policy_id: str | None = None
    dns_proxy: bool = False  # classic: additionalProperties["Network.DNS.EnableProxy"]
    rules: tuple[FirewallRule, ...] = ()
    policies: tuple[str, ...] = ()  # the policy chain read, the firewall's own first
    # IP group ID (lower case) -> its addresses, for the groups the rules name that could be read.
    ip_groups: tuple[tuple[str, tuple[str, ...]], ...] = ()
    unread: tuple[str, ...] = ()  # what could not be read, in Azure's words


@dataclass(frozen=True)
class EndpointConnection:
    name: str
    target_id: str  # privateLinkServiceId: the registry, vault or other resource
    group_ids: tuple[str, ...]
    status: str  # Approved | Pending | Rejected | Disconnected
    description: str = ""
    manual: bool = False


@dataclass(frozen=True)
class ZoneGroupRecord:
    name: str  # recordSetName, relative to the zone
    fqdn: str
    addresses: tuple[str, ...]
    record_type: str = "A"


@dataclass(frozen=True)
class ZoneConfigFacts:
    name: str
    zone_id: str
    records: tuple[ZoneGroupRecord, ...] = ()


@dataclass(frozen=True)
class ZoneGroupFacts:
    id: str
    name: str
    configs: tuple[ZoneConfigFacts, ...] = ()


@dataclass(frozen=True)
class PrivateEndpointFacts:
    id: str
    name: str
    subnet_id: str
    connections: tuple[EndpointConnection, ...] = ()
    # customDnsConfigs: each DNS name the endpoint serves, with its private addresses.
    dns_configs: tuple[tuple[str, tuple[str, ...]], ...] = ()
    provisioning_state: str = "Succeeded"
    # Its private DNS zone groups; None until read (discovery reads them for the endpoints it checks).
    zone_groups: tuple[ZoneGroupFacts, ...] | None = None
    zone_groups_error: str | None = None

    @property
    def addresses(self) -> tuple[str, ...]:
        found: list[str] = []
        records = [r for g in self.zone_groups or () for c in g.configs for r in c.records]
        for address in [a for _, addrs in self.dns_configs for a in addrs] + [
            a for r in records for a in r.addresses
        ]:
            if address not in found:
                found.append(address)
        return tuple(found)

    @property
    def fqdns(self) -> tuple[str, ...]:
        return tuple(fqdn for fqdn, _ in self.dns_configs if fqdn)

    def connections_to(self, target_id: str | None) -> tuple[EndpointConnection, ...]:
        """Its connections to `target_id` (every connection when None)."""
        if target_id is None:
            return self.connections
        wanted = target_id.rstrip("/").lower()
        return tuple(c for c in self.connections if c.target_id.rstrip("/").lower() == wanted)


@dataclass(frozen=True)
class EndpointCheck:
    """One `private_endpoints` entry of the pool and what was found for it.

    `endpoints`: the endpoint itself (an endpoint ID), or every endpoint found whose connection
    targets the listed registry or vault (empty: none). `records`: the A records of the zones the
    endpoints' zone groups name, as the zones hold them (resource `<zone ID>/A/<name>`).
    """

    entry: str
    endpoints: Lookup[tuple[PrivateEndpointFacts, ...]]
    records: tuple[Lookup[tuple[str, ...]], ...] = ()
    searched: tuple[str, ...] = ()  # subscriptions searched for a registry's or vault's endpoints

    @property
    def target(self) -> str | None:
        """The registry or vault the entry names; None for an endpoint ID."""
        return None if is_private_endpoint_id(self.entry) else self.entry


@dataclass(frozen=True)
class PoolTopology:
    """Everything one pool's preflight looked at."""

    pool: str
    subnet: Lookup[SubnetFacts]
    runner_vnet: Lookup[VNetFacts]
    cluster: Lookup[ApiServer] | None = None  # None: the pool names no private cluster
    cluster_vnet: Lookup[VNetFacts] | None = None
    api_addresses: Lookup[tuple[str, ...]] | None = None  # the API server FQDN's A record
    zones: tuple[ZoneCheck, ...] = ()
    nsg: Lookup[NsgFacts] | None = None
    sizes: Lookup[dict[str, SizeOffer]] | None = None  # by lower-cased size name; {} = none offered
    image: Lookup[ImageFacts] | None = None
    # Pools sharing this subnet (this one included) and the runners they may run at once.
    subnet_pools: tuple[str, ...] = ()
    subnet_demand: int = 0
    # The private API server addresses those pools need (runners share the subnet's NSG, so it must
    # let every one of them through), and the pools whose API server address could not be found.
    subnet_api_addresses: tuple[str, ...] = ()
    subnet_unresolved: tuple[str, ...] = ()
    # The way out: the subnet's route table and NAT gateway, and the firewall a default route leads
    # to (read only when that route's next hop is a virtual appliance: None otherwise).
    route_table: Lookup[RouteTableFacts] | None = None
    nat_gateway: Lookup[NatGatewayFacts] | None = None
    firewall: Lookup[FirewallFacts] | None = None
    forge_hosts: tuple[ForgeHost, ...] = ()  # what the way out must let through (TCP 443)
    endpoints: tuple[EndpointCheck, ...] = ()  # one per `private_endpoints` entry, in order
    # The private endpoint addresses the pools sharing the subnet need (their NSG is shared).
    subnet_endpoint_addresses: tuple[str, ...] = ()
