"""Whether a TCP connection from a VM's subnet to an address gets an answer, and why not.

In Azure's order: the subnet's NSG decides the outbound flow (the VirtualNetwork tag covering the
VNet, its peers and the prefixes of the subnet's user-defined routes); then the effective route,
the longest prefix match over the system routes (the VNet's space: VnetLocal; each peered VNet's
space: VNetPeering; 0.0.0.0/0: Internet; 10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16 and
100.64.0.0/10: None) and the subnet's route table, whose routes replace system routes of the same
prefix (learn.microsoft.com/azure/virtual-network/virtual-networks-udr-overview).

Where the route leads: a VNet or peered VNet answers (a private endpoint only once its connection is
Approved); Internet goes out through the subnet's NAT gateway (with a public IP or prefix), else
through default outbound access unless the subnet is private (`defaultOutboundAccess: false`), else
nowhere; a route to a VirtualAppliance that is an Azure Firewall is decided by the firewall's rules
(`simulator.arm.firewall`), any other appliance is dropped (the simulator cannot know what it does),
as are None and VirtualNetworkGateway (no gateway is simulated). A user route takes precedence over
the NAT gateway for the traffic it matches.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Literal

from simulator.arm.dns_view import vnet_of
from simulator.arm.firewall import Flow, evaluate, firewall_at
from simulator.arm.ids import ResourceId
from simulator.arm.network import RESERVED_AT_START
from simulator.arm.seeding_network import ENDPOINT_ADDRESSES_META, PUBLIC_ADDRESSES_META
from simulator.arm.store import PRIVATE_ENDPOINT_TYPE, ROUTE_TYPE, Resource, ResourceStore
from simulator.arm.vnet_view import IpAddress, Network, first_outbound_match, peers, space, vnet_holding

Via = Literal["vnet", "peering", "nat-gateway", "default-outbound", "firewall", "none"]
# Azure's default routes for the private ranges: traffic to them that no VNet route takes is dropped.
DROPPED_RANGES = ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10")


@dataclass(frozen=True)
class Route:
    prefix: Network
    next_hop_type: str
    next_hop_ip: str | None = None
    table: str | None = None  # None: a system route
    name: str | None = None

    def describe(self) -> str:
        hop = self.next_hop_type + (f" {self.next_hop_ip}" if self.next_hop_ip else "")
        if self.table is None:
            return f"the system route {self.prefix} -> {hop}"
        return f"route table {self.table} route {self.name} ({self.prefix} -> {hop})"


@dataclass(frozen=True)
class PathVerdict:
    ok: bool
    reason: str  # how it got through, or why not; names the resource that decided
    via: Via = "none"


def effective_routes(store: ResourceStore, subnet: Resource) -> list[Route]:
    vnet = store.get(subnet.id.parent) if subnet.id.parent else None
    routes: dict[Network, Route] = {}
    for text in ("0.0.0.0/0", *DROPPED_RANGES):
        net = ipaddress.ip_network(text)
        routes[net] = Route(net, "Internet" if text == "0.0.0.0/0" else "None")
    if vnet is not None:
        for peer in peers(store, vnet):
            for net in space(peer):
                routes[net] = Route(net, "VNetPeering")
        for net in space(vnet):
            routes[net] = Route(net, "VnetLocal")
    table = store.get((subnet.properties.get("routeTable") or {}).get("id") or "-")
    if table is not None:
        for route in store.list(ROUTE_TYPE, parent=table.id):
            props = route.properties
            net = ipaddress.ip_network(str(props.get("addressPrefix")), strict=False)
            hop_ip = props.get("nextHopIpAddress")
            routes[net] = Route(
                net,
                str(props.get("nextHopType")),
                str(hop_ip) if hop_ip else None,
                table.id.name,
                route.id.name,
            )
    return list(routes.values())


def route_for(store: ResourceStore, subnet: Resource, ip: IpAddress) -> Route:
    matching = [
        r for r in effective_routes(store, subnet) if r.prefix.version == ip.version and ip in r.prefix
    ]
    return max(matching, key=lambda r: (r.prefix.prefixlen, r.table is not None))


def connect(
    store: ResourceStore,
    subnet_id: str,
    address: str,
    port: int,
    *,
    name: str | None = None,
    source: str | None = None,
) -> PathVerdict:
    """Whether `address:port` answers a VM in `subnet_id`; `name` is the TLS server name (what the
    firewall's application rules see), `source` the VM's private address."""
    vnet_id = vnet_of(subnet_id)
    vnet = store.get(vnet_id) if vnet_id else None
    subnet = store.get(subnet_id) if subnet_id else None
    if vnet is None or subnet is None:
        return PathVerdict(False, f"the VM's VNet ({vnet_id}) does not exist")
    ip = ipaddress.ip_address(address)
    route = route_for(store, subnet, ip)
    denied = _nsg_denies(store, subnet, vnet, ip, port)
    if denied is not None:
        return PathVerdict(False, denied)
    flow = Flow(source or _first_host(subnet), address, port, name)
    hop = route.next_hop_type
    if hop in ("VnetLocal", "VNetPeering"):
        return _private(store, vnet, ip, route)
    if hop == "None":
        if route.table is None:
            target = vnet_holding(store, ip)
            if target is None:
                return PathVerdict(False, f"no VNet holds {address}")
            return PathVerdict(
                False, f"{vnet.id.name} is not peered (Connected, both ways) with {target.id.name}"
            )
        return PathVerdict(False, f"{route.describe()} drops it")
    if hop == "Internet":
        if ip.is_private:
            return PathVerdict(
                False, f"{route.describe()} sends a private address to the Internet: nothing answers"
            )
        return internet_egress(store, subnet)
    if hop == "VirtualAppliance":
        return _through_appliance(store, vnet, route, flow)
    return PathVerdict(
        False, f"{route.describe()} sends it to a virtual network gateway; none is simulated: dropped"
    )


def unreachable_reason(store: ResourceStore, subnet_id: str, address: str, port: int) -> str | None:
    """Why `address:port` does not answer from the subnet, or None when it does."""
    verdict = connect(store, subnet_id, address, port)
    return None if verdict.ok else verdict.reason


def internet_egress(store: ResourceStore, subnet: Resource) -> PathVerdict:
    """How the subnet's Internet-bound traffic leaves when its route is the system 0.0.0.0/0."""
    props = subnet.properties
    nat_ref = (props.get("natGateway") or {}).get("id")
    if nat_ref:
        nat = store.get(nat_ref)
        if nat is None:
            return PathVerdict(False, f"{subnet.id.name}'s NAT gateway {nat_ref} does not exist")
        addresses = [str(a) for a in nat.meta.get(PUBLIC_ADDRESSES_META) or []]
        referenced = [
            *(nat.properties.get("publicIpAddresses") or []),
            *(nat.properties.get("publicIpPrefixes") or []),
        ]
        if not referenced:
            return PathVerdict(
                False, f"NAT gateway {nat.id.name} has no public IP address or prefix: no way out"
            )
        return PathVerdict(True, f"through NAT gateway {nat.id.name} ({', '.join(addresses)})", "nat-gateway")
    if props.get("defaultOutboundAccess") is False:
        return PathVerdict(
            False,
            f"{subnet.id.name} is a private subnet (defaultOutboundAccess false) with no NAT gateway and no "
            "route to a firewall: no way out",
        )
    return PathVerdict(
        True,
        f"through default outbound access: {subnet.id.name} has no NAT gateway and is not private (implicit, "
        "and no longer given to new subnets)",
        "default-outbound",
    )


def _nsg_denies(
    store: ResourceStore, subnet: Resource, vnet: Resource, ip: IpAddress, port: int
) -> str | None:
    nsg = store.get((subnet.properties.get("networkSecurityGroup") or {}).get("id") or "-")
    if nsg is None:
        return None
    user_prefixes = [r.prefix for r in effective_routes(store, subnet) if r.table is not None]
    tag = [*space(vnet), *(net for peer in peers(store, vnet) for net in space(peer)), *user_prefixes]
    rule = first_outbound_match(nsg, ip, port, tag)
    if rule is None or rule.get("properties", {}).get("access") != "Deny":
        return None
    reason = f"NSG {nsg.id.name} rule {rule['name']} denies outbound TCP {port} to {ip}"
    props = rule.get("properties") or {}
    if "VirtualNetwork" in (
        props.get("destinationAddressPrefix"),
        *(props.get("destinationAddressPrefixes") or []),
    ):
        covering = [str(p) for p in user_prefixes if ip in p]
        if covering and not ip.is_private:
            reason += f" (the VirtualNetwork tag holds the user route prefix {covering[0]})"
    return reason


def _private(store: ResourceStore, vnet: Resource, ip: IpAddress, route: Route) -> PathVerdict:
    target = vnet_holding(store, ip)
    if target is None:
        return PathVerdict(False, f"{route.describe()} leads nowhere: no VNet holds {ip}")
    if route.next_hop_type == "VnetLocal" and not target.id.same_as(vnet.id):
        return PathVerdict(
            False, f"{route.describe()} keeps it in {vnet.id.name}, but {ip} is in {target.id.name}"
        )
    pending = _endpoint_not_approved(store, str(ip))
    if pending is not None:
        return PathVerdict(False, pending)
    if target.id.same_as(vnet.id):
        return PathVerdict(True, f"in {vnet.id.name}", "vnet")
    return PathVerdict(True, f"over the peering {vnet.id.name} <-> {target.id.name}", "peering")


def _through_appliance(store: ResourceStore, vnet: Resource, route: Route, flow: Flow) -> PathVerdict:
    hop_ip = str(route.next_hop_ip)
    hop = ipaddress.ip_address(hop_ip)
    holder = vnet_holding(store, hop)
    if holder is None or not (
        holder.id.same_as(vnet.id) or any(p.id.same_as(holder.id) for p in peers(store, vnet))
    ):
        where = f"in {holder.id.name}, not peered with {vnet.id.name}" if holder else "in no VNet"
        return PathVerdict(False, f"{route.describe()} sends it to {hop_ip}, which is {where}: dropped")
    firewall = firewall_at(store, hop_ip)
    if firewall is None:
        return PathVerdict(
            False,
            f"{route.describe()} sends it to a third-party appliance at {hop_ip}: the simulator drops it",
        )
    verdict = evaluate(store, firewall, flow)
    if not verdict.allowed:
        return PathVerdict(False, f"{route.describe()} sends it to {verdict.reason}")
    destination = ipaddress.ip_address(flow.destination)
    if destination.is_private:
        target = vnet_holding(store, destination)
        if target is None or not (
            target.id.same_as(holder.id) or any(p.id.same_as(target.id) for p in peers(store, holder))
        ):
            return PathVerdict(False, f"{verdict.reason}, but {holder.id.name} cannot reach {destination}")
        pending = _endpoint_not_approved(store, flow.destination)
        if pending is not None:
            return PathVerdict(False, pending)
    return PathVerdict(True, f"through Azure Firewall {firewall.id.name} ({verdict.rule})", "firewall")


def _endpoint_not_approved(store: ResourceStore, address: str) -> str | None:
    """A private endpoint's address carries traffic only once its connection is Approved."""
    for endpoint in store.list(PRIVATE_ENDPOINT_TYPE):
        if address not in (endpoint.meta.get(ENDPOINT_ADDRESSES_META) or []):
            continue
        props = endpoint.properties
        for connection in [
            *(props.get("privateLinkServiceConnections") or []),
            *(props.get("manualPrivateLinkServiceConnections") or []),
        ]:
            cprops = connection.get("properties") or {}
            status = (cprops.get("privateLinkServiceConnectionState") or {}).get("status")
            if status != "Approved":
                target = ResourceId.parse(str(cprops.get("privateLinkServiceId"))).name
                return (
                    f"private endpoint {endpoint.id.name}'s connection to {target} is {status}: "
                    "no traffic flows until it is Approved"
                )
    return None


def _first_host(subnet: Resource) -> str:
    network = ipaddress.ip_network(str(subnet.properties.get("addressPrefix")), strict=False)
    return str(network.network_address + RESERVED_AT_START)
