"""Which way a runner subnet's traffic to the Internet takes, by Azure's route selection.

Azure picks a route by longest prefix match over the subnet's routes: the system routes (the VNet's
address space: VnetLocal; peered address spaces: VNetPeering; 0.0.0.0/0: Internet) and the user
routes of its route table, a user route replacing the system route of the same prefix; a route to
a virtual appliance or a gateway takes precedence over a NAT gateway for the traffic it matches,
and next hop None drops it (learn.microsoft.com/azure/virtual-network/virtual-networks-udr-overview).

A forge's addresses are public and not known here, so the question asked is which next hop public
IPv4 space takes, and how much of it: the hop taking most of it (normally the default route's) is
the runners' way out; a hop taking only some public ranges is reported as a caveat, since a forge
address may or may not lie in them. Routes naming a service tag as their prefix cannot be placed.
Not read: routes a virtual network gateway learns over BGP (only a NIC's effective routes show
them, and before a runner there is no NIC) and Virtual WAN hub routing.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass

from runner_fleet.preflight.checks.nsg_flows import Ranges, span_of, spans_of
from runner_fleet.preflight.topology import RouteFacts, RouteTableFacts

# Not reachable on the Internet: "this network", RFC 1918, shared (RFC 6598), loopback, link-local,
# multicast and reserved. Whatever the routes say about them is no forge's way.
NOT_PUBLIC = (
    "0.0.0.0/8",
    "10.0.0.0/8",
    "100.64.0.0/10",
    "127.0.0.0/8",
    "169.254.0.0/16",
    "172.16.0.0/12",
    "192.168.0.0/16",
    "224.0.0.0/4",
    "240.0.0.0/4",
)
PUBLIC_IPV4 = Ranges(((0, 2**32 - 1),)) - spans_of(NOT_PUBLIC)
SYSTEM_INTERNET = RouteFacts("(system route)", "0.0.0.0/0", "Internet")


@dataclass(frozen=True)
class Hop:
    """One way public traffic leaves by: a next hop and the routes sending traffic there."""

    next_hop_type: str  # Internet | VirtualAppliance | VirtualNetworkGateway | VnetLocal | None
    next_hop_ip: str | None
    routes: tuple[RouteFacts, ...]  # the routes sending public traffic there (system route included)
    share: Ranges  # the public addresses it takes

    @property
    def route_names(self) -> str:
        return ", ".join(f"'{r.name}' ({r.address_prefix})" for r in self.routes if r is not SYSTEM_INTERNET)

    def describe(self) -> str:
        """The hop in a few words: 'the Internet', 'virtual appliance 10.0.1.4', 'None (dropped)'."""
        kind = self.next_hop_type.lower()
        if kind == "internet":
            return "the Internet"
        if kind == "virtualappliance":
            return f"virtual appliance {self.next_hop_ip or '(no address)'}"
        if kind == "virtualnetworkgateway":
            return "the virtual network gateway"
        if kind == "vnetlocal":
            return "the VNet (VnetLocal)"
        return "None (dropped)"


@dataclass(frozen=True)
class InternetPath:
    main: Hop  # the hop taking most of the public address space
    others: tuple[Hop, ...] = ()  # hops taking some public ranges
    tagged: tuple[RouteFacts, ...] = ()  # user routes whose prefix is a service tag: not placed


def internet_path(local_prefixes: Sequence[str], table: RouteTableFacts | None) -> InternetPath:
    """Where public IPv4 traffic from the subnet goes. `local_prefixes`: the VNet's and its peers'
    address spaces, whose system routes keep their addresses in the network."""
    left = PUBLIC_IPV4 - spans_of(local_prefixes)
    every = table.routes if table is not None else ()
    routes = [r for r in every if _network(r.address_prefix) is not None]
    tagged = tuple(r for r in every if not _is_address(r.address_prefix))
    taken: dict[tuple[str, str | None], tuple[list[RouteFacts], Ranges]] = {}
    # Longest prefix first; a user 0.0.0.0/0 comes before (and so replaces) the system one.
    ordered = sorted(routes, key=lambda r: -_prefix_length(r.address_prefix))
    for route in [*ordered, SYSTEM_INTERNET]:
        region = left & span_of(route.address_prefix)
        if not region:
            continue
        key = (route.next_hop_type.lower(), route.next_hop_ip if _is_appliance(route) else None)
        names, share = taken.get(key, ([], Ranges()))
        taken[key] = ([*names, route], share | region)
        left = left - region
    hops = [Hop(names[0].next_hop_type, key[1], tuple(names), share) for key, (names, share) in taken.items()]
    if not hops:  # the VNet's own address space holds every public address: nothing leaves
        hops = [Hop("VnetLocal", None, (), Ranges())]
    hops.sort(key=lambda h: -h.share.size())
    return InternetPath(hops[0], tuple(hops[1:]), tagged)


def _is_appliance(route: RouteFacts) -> bool:
    return route.next_hop_type.lower() == "virtualappliance"


def _network(prefix: str) -> ipaddress.IPv4Network | None:
    try:
        network = ipaddress.ip_network(prefix.strip(), strict=False)
    except ValueError:
        return None
    return network if isinstance(network, ipaddress.IPv4Network) else None


def _is_address(prefix: str) -> bool:
    try:
        ipaddress.ip_network(prefix.strip(), strict=False)
    except ValueError:
        return False
    return True


def _prefix_length(prefix: str) -> int:
    network = _network(prefix)
    return network.prefixlen if network is not None else -1
