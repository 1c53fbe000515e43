"""The network as a VM in a VNet sees it: what a name resolves to, and whether an address answers.

Resolution follows Azure: with Azure-provided DNS (or custom servers that forward to 168.63.129.16)
a name is answered by the most specific private DNS zone *linked* to the VNet (a zone is
authoritative: a missing record is NXDOMAIN, never a public fallback); names in no linked zone go
to public DNS, which knows a private cluster's FQDN only when its privateDNSZone is `none`.
Reachability: the address must be in the VM's VNet or in a VNet peered with it in both directions
(Connected, virtual network access allowed), and the subnet's NSG must not deny the outbound flow.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any

from simulator.arm.ids import ResourceId
from simulator.arm.seeding import DNS_FORWARDS_META
from simulator.arm.store import AKS_TYPE, LINK_TYPE, PEERING_TYPE, VNET_TYPE, Resource, ResourceStore

AZURE_DNS = "168.63.129.16"


@dataclass(frozen=True)
class Resolution:
    address: str | None
    source: str  # who answered (or why nobody did), for the console


def vnet_of(subnet_id: str) -> ResourceId | None:
    try:
        rid = ResourceId.parse(subnet_id)
    except ValueError:
        return None
    return rid.parent


def resolve(store: ResourceStore, vnet_id: ResourceId, fqdn: str) -> Resolution:
    name = fqdn.rstrip(".").lower()
    vnet = store.get(vnet_id)
    if vnet is None:
        return Resolution(None, f"no VNet {vnet_id}")
    servers = list((vnet.properties.get("dhcpOptions") or {}).get("dnsServers") or [])
    if servers and AZURE_DNS not in servers and not vnet.meta.get(DNS_FORWARDS_META):
        return Resolution(None, f"custom DNS servers {', '.join(servers)} do not forward to {AZURE_DNS}")
    zone = _linked_zone(store, vnet, name)
    if zone is not None:
        relative = name[: -len(zone.id.name) - 1] if name != zone.id.name.lower() else "@"
        record = store.get(zone.id.child("A", relative))
        addresses = (
            [a.get("ipv4Address") for a in (record.properties.get("aRecords") or [])] if record else []
        )
        if addresses and addresses[0]:
            return Resolution(str(addresses[0]), f"private DNS zone {zone.id.name}")
        return Resolution(None, f"private DNS zone {zone.id.name} has no A record {relative}")
    for cluster in store:
        if cluster.type.lower() != AKS_TYPE.lower():
            continue
        access = cluster.properties.get("apiServerAccessProfile") or {}
        if str(access.get("privateDNSZone", "")).lower() == "none" and (
            str(cluster.properties.get("privateFQDN", "")).lower() == name
        ):
            address = cluster.meta.get("api_server_address")
            if address:
                return Resolution(str(address), "public DNS")
    return Resolution(None, "no private DNS zone linked to the VNet holds the name")


def _linked_zone(store: ResourceStore, vnet: Resource, name: str) -> Resource | None:
    best: Resource | None = None
    for link in store:
        if link.type.lower() != LINK_TYPE.lower():
            continue
        props = link.properties
        if props.get("virtualNetworkLinkState") != "Completed":
            continue
        if not vnet.id.same_as(props.get("virtualNetwork", {}).get("id", "") or "-"):
            continue
        zone = store.get(link.id.parent) if link.id.parent else None
        if zone is None:
            continue
        zone_name = zone.id.name.lower()
        if (name == zone_name or name.endswith("." + zone_name)) and (
            best is None or len(zone_name) > len(best.id.name)
        ):
            best = zone
    return best


def unreachable_reason(store: ResourceStore, subnet_id: str, address: str, port: int) -> str | None:
    """Why `address:port` does not answer from the subnet, or None when it does."""
    vnet_id = vnet_of(subnet_id)
    vnet = store.get(vnet_id) if vnet_id else None
    if vnet is None:
        return f"the VM's VNet ({vnet_id}) does not exist"
    ip = ipaddress.ip_address(address)
    target = _vnet_holding(store, ip)
    if target is None:
        return f"no VNet holds {address}"
    if not target.id.same_as(vnet.id) and not _peered(store, vnet, target):
        return f"{vnet.id.name} is not peered (Connected, both ways) with {target.id.name}"
    subnet = store.get(subnet_id)
    nsg_ref = (subnet.properties.get("networkSecurityGroup") or {}).get("id") if subnet else None
    nsg = store.get(nsg_ref) if nsg_ref else None
    if nsg is not None:
        rule = _first_outbound_match(nsg, ip, port, reachable_space=_space(vnet) + _space(target))
        if rule is not None and rule.get("properties", {}).get("access") == "Deny":
            return f"NSG {nsg.id.name} rule {rule['name']} denies outbound TCP {port} to {address}"
    return None


def _space(vnet: Resource) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    prefixes = (vnet.properties.get("addressSpace") or {}).get("addressPrefixes") or []
    return [ipaddress.ip_network(p, strict=False) for p in prefixes]


def _vnet_holding(store: ResourceStore, ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> Resource | None:
    for vnet in store.list(VNET_TYPE):
        if any(ip in net for net in _space(vnet)):
            return vnet
    return None


def _peered(store: ResourceStore, a: Resource, b: Resource) -> bool:
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


def _first_outbound_match(
    nsg: Resource,
    ip: ipaddress.IPv4Address | ipaddress.IPv6Address,
    port: int,
    reachable_space: list[ipaddress.IPv4Network | ipaddress.IPv6Network],
) -> dict[str, Any] | None:
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
        if _destination_matches(props, ip, reachable_space):
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


def _destination_matches(
    props: dict[str, Any],
    ip: ipaddress.IPv4Address | ipaddress.IPv6Address,
    reachable_space: list[ipaddress.IPv4Network | ipaddress.IPv6Network],
) -> bool:
    prefixes = [props.get("destinationAddressPrefix"), *(props.get("destinationAddressPrefixes") or [])]
    for prefix in prefixes:
        if not prefix:
            continue
        text = str(prefix)
        if text in ("*", "Any"):
            return True
        if text == "VirtualNetwork":
            if any(ip in net for net in reachable_space):
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
