"""Topology discovery: from a pool's settings to the facts its checks need, with as few reads as possible.

The runner subnet gives the runner VNet (and its NSG). The private cluster is found from its AKS
resource ID (private FQDN, private DNS zone: a custom zone ID, the AKS-managed `system` zone in the
node resource group, or `none`; and the cluster's VNet from its node or API server subnet), or from
the configured FQDN and zone ID, in which case the cluster's VNet is the one whose address space
holds the API server's address.

Pools sharing a subnet share its NSG (and so do pools in other subnets associated with the same NSG),
so the API server addresses of all of them are looked up too (once per distinct cluster), and the
addresses of the private endpoints they list: what the NSG must let through is their union, not
one pool's needs.

The way out and the private endpoints are discovered in `discover_egress` and `discover_endpoints`.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import replace

from runner_fleet.preflight.discover_egress import with_egress
from runner_fleet.preflight.discover_endpoints import EndpointFinder, with_endpoints, with_subnet_endpoints
from runner_fleet.preflight.forge_hosts import forge_hosts
from runner_fleet.preflight.ids import parse, same, vnet_of_subnet
from runner_fleet.preflight.lookup import holds, lookup
from runner_fleet.preflight.names import in_zone, relative_name
from runner_fleet.preflight.reader import ReadError, TopologyReader
from runner_fleet.preflight.topology import (
    AksFacts,
    ApiServer,
    Lookup,
    PoolTopology,
    VNetFacts,
    ZoneCheck,
)
from runner_fleet.settings.pool import Pool
from runner_fleet.settings.service import ServiceSettings


async def discover(
    pool: Pool,
    reader: TopologyReader,
    *,
    pools: Sequence[Pool] = (),
    settings: ServiceSettings,
) -> PoolTopology:
    """`settings`: the service's, for the forge hosts the way out must allow (GitHub.com, a GitHub
    Enterprise Server or a GitLab instance)."""
    azure = pool.azure
    subnet = await lookup(azure.subnet_id, reader.subnet(azure.subnet_id))
    vnet_id = vnet_of_subnet(azure.subnet_id)
    runner_vnet = await lookup(vnet_id, reader.vnet(vnet_id))
    nsg = None
    if subnet.value is not None and subnet.value.nsg_id:
        nsg = await lookup(subnet.value.nsg_id, reader.nsg(subnet.value.nsg_id))
    location_id = (
        f"/subscriptions/{azure.subscription_id}/providers/Microsoft.Compute/locations/{azure.location}"
    )
    sizes = await lookup(location_id, reader.vm_sizes(azure.subscription_id, azure.location))
    image = await lookup(azure.image, reader.image(azure.subscription_id, azure.location, azure.image))
    sharing = [p for p in (pools or (pool,)) if same(p.azure.subnet_id, azure.subnet_id)]
    if pool.name not in {p.name for p in sharing}:
        sharing.append(pool)
    topology = PoolTopology(
        pool=pool.name,
        subnet=subnet,
        runner_vnet=runner_vnet,
        nsg=nsg,
        sizes=sizes,
        image=image,
        subnet_pools=tuple(p.name for p in sharing),
        subnet_demand=sum(p.limits.max_runners for p in sharing),
        forge_hosts=forge_hosts(pool, settings),
    )
    if pool.cluster is not None:
        topology = await _with_cluster(pool, reader, topology)
    topology = await with_egress(reader, topology)
    endpoints = EndpointFinder(reader, azure.subscription_id)
    topology = await with_endpoints(pool, endpoints, reader, topology)
    filtered = _behind_the_nsg(pool, pools, sharing, topology)
    topology = await _with_subnet_needs(pool, filtered, reader, topology)
    return await with_subnet_endpoints(pool, filtered, endpoints, topology)


def _behind_the_nsg(
    pool: Pool, pools: Sequence[Pool], sharing: Sequence[Pool], topology: PoolTopology
) -> list[Pool]:
    """The pools whose runners the subnet's NSG filters: those in the subnet, and those in other
    subnets associated with the same NSG. What it must let through is what any of them needs."""
    nsg = topology.nsg.value if topology.nsg is not None else None
    associated = nsg.subnet_ids if nsg is not None else ()
    found = list(sharing)
    for other in pools:
        if other.name not in {p.name for p in found} and any(
            same(other.azure.subnet_id, s) for s in associated
        ):
            found.append(other)
    return found


async def _with_cluster(pool: Pool, reader: TopologyReader, topology: PoolTopology) -> PoolTopology:
    assert pool.cluster is not None
    cluster, zones, addresses = await _api_endpoint(pool, reader)
    for extra in pool.cluster.extra_dns_zone_ids:
        if not any(same(extra, z.zone.resource) for z in zones):
            zones.append(ZoneCheck(await lookup(extra, reader.zone(extra)), "extra"))
    cluster_vnet = await _cluster_vnet(reader, cluster.value, topology.runner_vnet, addresses, zones)
    return replace(
        topology, cluster=cluster, zones=tuple(zones), api_addresses=addresses, cluster_vnet=cluster_vnet
    )


async def _api_endpoint(
    pool: Pool, reader: TopologyReader
) -> tuple[Lookup[ApiServer], list[ZoneCheck], Lookup[tuple[str, ...]] | None]:
    """The pool's API server, the zone holding its name, and the addresses that name has there."""
    cluster = await _api_server(pool, reader)
    zones: list[ZoneCheck] = []
    api = cluster.value
    if api is not None and api.private and api.zone_mode == "zone" and api.zone_id:
        zones.append(ZoneCheck(await lookup(api.zone_id, reader.zone(api.zone_id)), "api-server"))
    return cluster, zones, await _addresses(reader, api, zones)


async def _with_subnet_needs(
    pool: Pool, sharing: Sequence[Pool], reader: TopologyReader, topology: PoolTopology
) -> PoolTopology:
    known: dict[tuple[str, str, str], tuple[str, ...] | None] = {}
    own = _cluster_key(pool)
    if own is not None:
        known[own] = _needed(topology.cluster, topology.api_addresses)
    addresses: list[str] = []
    unresolved: list[str] = []
    for other in sharing:
        key = _cluster_key(other)
        if key is None:
            continue
        if key not in known:
            cluster, _, found = await _api_endpoint(other, reader)
            known[key] = _needed(cluster, found)
        needed = known[key]
        if needed is None:
            unresolved.append(other.name)
        else:
            addresses += [a for a in needed if a not in addresses]
    return replace(topology, subnet_api_addresses=tuple(addresses), subnet_unresolved=tuple(unresolved))


def _cluster_key(pool: Pool) -> tuple[str, str, str] | None:
    settings = pool.cluster
    if settings is None:
        return None
    return (
        (settings.aks_cluster_id or "").lower(),
        (settings.api_server_fqdn or "").lower(),
        (settings.dns_zone_id or "").lower(),
    )


def _needed(
    cluster: Lookup[ApiServer] | None, addresses: Lookup[tuple[str, ...]] | None
) -> tuple[str, ...] | None:
    """What a pool needs to reach in the network; None when its API server address is unknown."""
    if cluster is not None and cluster.value is not None and not cluster.value.private:
        return ()  # a public API server is reached over the Internet, not through the VNet
    if addresses is None or not addresses.value:
        return None
    # A public answer is a DNS fault (dns-record says so), not an address to open in the NSG.
    private = tuple(a for a in addresses.value if _is_private(a))
    return private or None


def _is_private(address: str) -> bool:
    try:
        return ipaddress.ip_address(address).is_private
    except ValueError:
        return False


async def _api_server(pool: Pool, reader: TopologyReader) -> Lookup[ApiServer]:
    settings = pool.cluster
    assert settings is not None
    if settings.aks_cluster_id is None:
        configured = settings.api_server_fqdn or ""
        return Lookup(configured, ApiServer(configured, configured, zone_id=settings.dns_zone_id))
    found = await lookup(settings.aks_cluster_id, reader.cluster(settings.aks_cluster_id))
    if found.value is None:
        return Lookup(found.resource, error=found.error)
    aks = found.value
    if not aks.private:
        return Lookup(aks.id, ApiServer(aks.id, aks.public_fqdn, private=False, source="aks"))
    fqdn = settings.api_server_fqdn or aks.private_fqdn
    zone_id: str | None
    mode = (aks.private_dns_zone or "system").lower()
    zone_id = settings.dns_zone_id
    if zone_id is None and mode not in ("system", "none"):
        zone_id = aks.private_dns_zone
    elif zone_id is None and mode == "system":
        zone_id = await _system_zone(reader, aks, fqdn)
    return Lookup(
        aks.id,
        ApiServer(
            aks.id,
            fqdn,
            zone_mode="none" if mode == "none" and settings.dns_zone_id is None else "zone",
            zone_id=zone_id,
            cluster_vnet_id=await _aks_vnet(reader, aks),
            source="aks",
        ),
    )


async def _system_zone(reader: TopologyReader, aks: AksFacts, fqdn: str | None) -> str | None:
    """AKS keeps its `system` zone in the node resource group: the zone whose name ends the FQDN."""
    if not aks.node_resource_group or not fqdn:
        return None
    try:
        candidates = await reader.zones_in(parse(aks.id).subscription, aks.node_resource_group)
    except ReadError:
        return None
    matching = [z for z in candidates if in_zone(fqdn, parse(z).name)]
    return max(matching, key=lambda z: len(parse(z).name)) if matching else None


async def _aks_vnet(reader: TopologyReader, aks: AksFacts) -> str | None:
    if aks.api_server_subnet_id:
        return vnet_of_subnet(aks.api_server_subnet_id)
    if aks.node_subnet_ids:
        return vnet_of_subnet(aks.node_subnet_ids[0])
    if aks.node_resource_group:  # a VNet AKS made itself lives in the node resource group
        try:
            found = await reader.vnets_in(parse(aks.id).subscription, aks.node_resource_group)
        except ReadError:
            return None
        return found[0] if found else None
    return None


async def _addresses(
    reader: TopologyReader, api: ApiServer | None, zones: list[ZoneCheck]
) -> Lookup[tuple[str, ...]] | None:
    if api is None or api.fqdn is None or not api.private or api.zone_mode != "zone":
        return None
    zone = next((z.zone for z in zones if z.role == "api-server"), None)
    if zone is None or zone.value is None or not in_zone(api.fqdn, zone.value.name):
        return None
    relative = relative_name(api.fqdn, zone.value.name)
    return await lookup(f"{zone.value.id}/A/{relative}", reader.a_record(zone.value.id, relative))


async def _cluster_vnet(
    reader: TopologyReader,
    api: ApiServer | None,
    runner_vnet: Lookup[VNetFacts],
    addresses: Lookup[tuple[str, ...]] | None,
    zones: list[ZoneCheck],
) -> Lookup[VNetFacts] | None:
    if api is None or not api.private:
        return None
    if api.cluster_vnet_id is not None:
        if same(api.cluster_vnet_id, runner_vnet.resource):
            return runner_vnet
        return await lookup(api.cluster_vnet_id, reader.vnet(api.cluster_vnet_id))
    address = _first_address(addresses)
    if address is None:
        return None
    here = runner_vnet.value
    if here is not None and holds(here.address_prefixes, address):
        return runner_vnet
    for peering in here.peerings if here is not None else ():
        if holds(peering.remote_prefixes, address):
            return await lookup(peering.remote_vnet_id, reader.vnet(peering.remote_vnet_id))
    # Not peered: the VNets the zone is linked to are where the cluster's private endpoint usually is.
    for zone in zones:
        for link in zone.zone.value.links if zone.zone.value is not None else ():
            if same(link.vnet_id, runner_vnet.resource):
                continue
            candidate = await lookup(link.vnet_id, reader.vnet(link.vnet_id))
            if candidate.value is not None and holds(candidate.value.address_prefixes, address):
                return candidate
    return None


def _first_address(addresses: Lookup[tuple[str, ...]] | None) -> str | None:
    if addresses is None or not addresses.value:
        return None
    return addresses.value[0]
