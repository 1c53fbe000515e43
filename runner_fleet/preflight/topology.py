"""What the preflight learned about a pool's network: plain facts, read once, checked without I/O.

Every lookup is a `Lookup`: the value, or nothing (the resource does not exist), or the reason it
could not be read (most often a missing role assignment). Checks turn these into verdicts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, Literal, TypeVar

T = TypeVar("T")

ZoneRole = Literal["api-server", "extra"]


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
