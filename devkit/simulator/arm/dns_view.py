"""Name resolution as a VM in a VNet sees it.

With Azure-provided DNS (or custom servers that forward to 168.63.129.16) a name is answered by the
most specific private DNS zone *linked* to the VNet: a zone is authoritative, a missing record is
NXDOMAIN, never a public fallback. A private-link resource's public name (acrprod.azurecr.io) is a
CNAME to its privatelink name (acrprod.privatelink.azurecr.io) once the resource has a private
endpoint; a linked zone of that name answers it, else public DNS answers with the resource's public
address. Names under a private zone that no linked zone holds (a private cluster's FQDN) resolve
nowhere, unless the cluster's privateDNSZone is `none` (public DNS then holds its private address).
Every other name is an Internet name: public DNS answers with a stable public address.

Custom DNS servers that do not forward to 168.63.129.16 resolve the Internet but no Azure private
zone: Internet names and private-link public names get their public answer, private names none.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Literal

from simulator.arm.ids import ResourceId
from simulator.arm.network_render import connections_to
from simulator.arm.private_link import private_link_name
from simulator.arm.seeding import DNS_FORWARDS_META
from simulator.arm.seeding_network import PUBLIC_ADDRESS_META, public_address_for
from simulator.arm.store import AKS_TYPE, LINK_TYPE, ZONE_TYPE, Resource, ResourceStore

AZURE_DNS = "168.63.129.16"
Scope = Literal["private", "public"]


@dataclass(frozen=True)
class Resolution:
    address: str | None
    source: str  # who answered (or why nobody did), for the console
    cname: str | None = None  # the privatelink name a private-link public name pointed at

    @property
    def scope(self) -> Scope | None:
        return None if self.address is None else scope_of(self.address)


def scope_of(address: str) -> Scope:
    return "private" if ipaddress.ip_address(address).is_private else "public"


def vnet_of(subnet_id: str) -> ResourceId | None:
    try:
        rid = ResourceId.parse(subnet_id)
    except ValueError:
        return None
    return rid.parent


def uses_azure_dns(vnet: Resource) -> bool:
    servers = list((vnet.properties.get("dhcpOptions") or {}).get("dnsServers") or [])
    return not servers or AZURE_DNS in servers or bool(vnet.meta.get(DNS_FORWARDS_META))


def resolve(store: ResourceStore, vnet_id: ResourceId, fqdn: str) -> Resolution:
    """What `fqdn` resolves to from a VM in `vnet_id`."""
    name = fqdn.rstrip(".").lower()
    vnet = store.get(vnet_id)
    if vnet is None:
        return Resolution(None, f"no VNet {vnet_id}")
    azure_dns = uses_azure_dns(vnet)
    linked = private_link_name(name)
    target = _link_target(store, linked.resource_name, linked.service.resource_type) if linked else None
    lookup, cname = name, None
    if linked is not None and target is not None and connections_to(store, target.id):
        lookup, cname = linked.private_name, linked.private_name
    if azure_dns:
        zone = _linked_zone(store, vnet, lookup)
        if zone is not None:
            return _from_zone(store, zone, lookup, cname)
    if linked is not None:
        if target is None:
            return Resolution(None, f"public DNS has no {name}: no such {linked.service.group_id} exists")
        main = f"{linked.resource_name}.{linked.service.public_suffix}"
        kept = target.meta.get(PUBLIC_ADDRESS_META)
        address = str(kept) if linked.public_name == main and kept else public_address_for(linked.public_name)
        via = f" (CNAME {cname}: no private DNS zone linked to the VNet answers it)" if cname else ""
        return Resolution(address, f"public DNS{via}", cname)
    if _private_name(store, name):
        for cluster in store.list(AKS_TYPE):
            access = cluster.properties.get("apiServerAccessProfile") or {}
            if str(access.get("privateDNSZone", "")).lower() == "none" and (
                str(cluster.properties.get("privateFQDN", "")).lower() == name
            ):
                kept = cluster.meta.get("api_server_address")
                if kept:
                    return Resolution(str(kept), "public DNS")
        if not azure_dns:
            servers = ", ".join((vnet.properties.get("dhcpOptions") or {}).get("dnsServers") or [])
            return Resolution(None, f"custom DNS servers {servers} do not forward to {AZURE_DNS}")
        return Resolution(None, "no private DNS zone linked to the VNet holds the name")
    return Resolution(public_address_for(name), "public DNS")


def _from_zone(store: ResourceStore, zone: Resource, name: str, cname: str | None) -> Resolution:
    relative = name[: -len(zone.id.name) - 1] if name != zone.id.name.lower() else "@"
    record = store.get(zone.id.child("A", relative))
    addresses = [a.get("ipv4Address") for a in (record.properties.get("aRecords") or [])] if record else []
    via = f"CNAME {cname}, " if cname else ""
    if addresses and addresses[0]:
        return Resolution(str(addresses[0]), f"{via}private DNS zone {zone.id.name}", cname)
    return Resolution(None, f"{via}private DNS zone {zone.id.name} has no A record {relative}", cname)


def _link_target(store: ResourceStore, resource_name: str, resource_type: str) -> Resource | None:
    """The registry or vault of that name (their names are globally unique)."""
    for resource in store.list(resource_type):
        if resource.id.name.lower() == resource_name:
            return resource
    return None


def _private_name(store: ResourceStore, name: str) -> bool:
    """A name only private DNS knows: under some private zone, a privatelink name, a cluster's FQDN."""
    if "privatelink" in name.split("."):
        return True
    for zone in store.list(ZONE_TYPE):
        zone_name = zone.id.name.lower()
        if name == zone_name or name.endswith("." + zone_name):
            return True
    return any(str(c.properties.get("privateFQDN", "")).lower() == name for c in store.list(AKS_TYPE))


def _linked_zone(store: ResourceStore, vnet: Resource, name: str) -> Resource | None:
    best: Resource | None = None
    for link in store.list(LINK_TYPE):
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
