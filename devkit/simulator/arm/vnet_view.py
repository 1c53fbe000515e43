"""The pieces of a VNet a VM's traffic depends on: address spaces, the VNet holding an address,
peerings that carry traffic (Connected both ways, virtual network access allowed), and the first
outbound NSG rule a flow matches. Name resolution is `dns_view`, whole paths `paths`.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from simulator.arm.store import PEERING_TYPE, VNET_TYPE, Resource, ResourceStore

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def space(vnet: Resource) -> list[Network]:
    prefixes = (vnet.properties.get("addressSpace") or {}).get("addressPrefixes") or []
    return [ipaddress.ip_network(p, strict=False) for p in prefixes]


def vnet_holding(store: ResourceStore, ip: IpAddress) -> Resource | None:
    for vnet in store.list(VNET_TYPE):
        if any(ip in net for net in space(vnet)):
            return vnet
    return None


def peered(store: ResourceStore, a: Resource, b: Resource) -> bool:
    def connected(local: Resource, remote: Resource) -> bool:
        for peering in store.list(PEERING_TYPE, parent=local.id):
            props = peering.properties
            if (
                remote.id.same_as(props.get("remoteVirtualNetwork", {}).get("id", "") or "-")
                and props.get("peeringState") == "Connected"
                and props.get("allowVirtualNetworkAccess", True)
            ):
                return True
        return False

    return connected(a, b) and connected(b, a)


def peers(store: ResourceStore, vnet: Resource) -> list[Resource]:
    """The VNets `vnet` exchanges traffic with over a peering."""
    found = []
    for peering in store.list(PEERING_TYPE, parent=vnet.id):
        remote = store.get((peering.properties.get("remoteVirtualNetwork") or {}).get("id") or "-")
        if remote is not None and peered(store, vnet, remote):
            found.append(remote)
    return found


def first_outbound_match(
    nsg: Resource, ip: IpAddress, port: int, virtual_network: list[Network]
) -> dict[str, Any] | None:
    """The NSG rule deciding outbound TCP `port` to `ip` (priority order, defaults last);
    `virtual_network` is what the VirtualNetwork tag stands for here."""
    rules = [
        *(nsg.properties.get("securityRules") or []),
        *(nsg.properties.get("defaultSecurityRules") or []),
    ]
    outbound = [r for r in rules if r.get("properties", {}).get("direction") == "Outbound"]
    for rule in sorted(outbound, key=lambda r: int(r["properties"]["priority"])):
        props = rule["properties"]
        if str(props.get("protocol", "*")) not in ("*", "Tcp"):
            continue
        if not _port_matches(props, port):
            continue
        if _destination_matches(props, ip, virtual_network):
            return dict(rule)
    return None


def _port_matches(props: dict[str, Any], port: int) -> bool:
    ranges = [props.get("destinationPortRange"), *(props.get("destinationPortRanges") or [])]
    for text in (str(r) for r in ranges if r):
        if text == "*":
            return True
        low, _, high = text.partition("-")
        if int(low) <= port <= int(high or low):
            return True
    return False


def _destination_matches(props: dict[str, Any], ip: IpAddress, virtual_network: list[Network]) -> bool:
    prefixes = [props.get("destinationAddressPrefix"), *(props.get("destinationAddressPrefixes") or [])]
    for prefix in prefixes:
        if not prefix:
            continue
        text = str(prefix)
        if text in ("*", "Any"):
            return True
        if text == "VirtualNetwork":
            if any(ip in net for net in virtual_network):
                return True
            continue
        if text == "Internet":
            if not ip.is_private:
                return True
            continue
        try:
            if ip in ipaddress.ip_network(text, strict=False):
                return True
        except ValueError:
            continue
    return False
