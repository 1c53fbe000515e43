"""In-memory topologies for the preflight: a healthy one to bend per test, and a reader serving it."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field, replace
from typing import Any

from runner_fleet.preflight.forge_hosts import GITHUB_HOSTS
from runner_fleet.preflight.topology import (
    AksFacts,
    ApiServer,
    EndpointCheck,
    EndpointConnection,
    FirewallFacts,
    FirewallPolicyFacts,
    ImageFacts,
    Lookup,
    NatGatewayFacts,
    NsgFacts,
    NsgRule,
    PeeringFacts,
    PoolTopology,
    PrivateEndpointFacts,
    RouteTableFacts,
    SizeOffer,
    SubnetFacts,
    VNetFacts,
    ZoneCheck,
    ZoneConfigFacts,
    ZoneFacts,
    ZoneGroupFacts,
    ZoneGroupRecord,
    ZoneLinkFacts,
)
from runner_fleet.settings.pool import Pool
from tests.builders import make_pool

SUB = "00000000-0000-0000-0000-000000000001"
NET = f"/subscriptions/{SUB}/resourceGroups/rg-runners/providers/Microsoft.Network"
AKS_NET = f"/subscriptions/{SUB}/resourceGroups/rg-aks/providers/Microsoft.Network"
RUNNER_VNET = f"{NET}/virtualNetworks/vnet-runners"
CLUSTER_VNET = f"{AKS_NET}/virtualNetworks/vnet-aks"
SUBNET = f"{RUNNER_VNET}/subnets/snet-runners"
NSG = f"{NET}/networkSecurityGroups/nsg-runners"
ZONE_NAME = "privatelink.westeurope.azmk8s.io"
ZONE = f"{AKS_NET}/privateDnsZones/{ZONE_NAME}"
FQDN = f"aks-prod-7f3a9c2e.{ZONE_NAME}"
ACR_ZONE = f"{AKS_NET}/privateDnsZones/privatelink.azurecr.io"
NAT = f"{NET}/natGateways/ng-runners"
PUBLIC_IP = f"{NET}/publicIPAddresses/pip-runners-egress"
LOCATION_ID = f"/subscriptions/{SUB}/providers/Microsoft.Compute/locations/westeurope"
AKS_ID = (
    f"/subscriptions/{SUB}/resourceGroups/rg-aks/providers/Microsoft.ContainerService/managedClusters/"
    "aks-prod"
)


def cluster_pool(name: str = "aks-prod", **overrides: Any) -> Pool:
    cluster = {"api_server_fqdn": FQDN, "dns_zone_id": ZONE} | overrides.pop("cluster", {})
    return make_pool(name, cluster=cluster, limits={"max_runners": 8}, **overrides)


def peering(name: str, local: str, remote: str, remote_prefix: str, **changes: Any) -> PeeringFacts:
    facts = PeeringFacts(
        f"{local}/virtualNetworkPeerings/{name}",
        name,
        remote,
        "Connected",
        "FullyInSync",
        True,
        (remote_prefix,),
    )
    return replace(facts, **changes)


def _peered_vnet(vnet: str, prefix: str, peering_name: str, remote: str, remote_prefix: str) -> VNetFacts:
    """A VNet in westeurope holding `prefix`, peered (connected, in sync) with `remote`."""
    name = vnet.rsplit("/", 1)[-1]
    return VNetFacts(
        vnet, name, "westeurope", (prefix,), (), (peering(peering_name, vnet, remote, remote_prefix),)
    )


def runner_vnet(**changes: Any) -> VNetFacts:
    base = _peered_vnet(RUNNER_VNET, "10.20.0.0/16", "runners-to-aks", CLUSTER_VNET, "10.10.0.0/16")
    return replace(base, **changes)


def cluster_vnet(**changes: Any) -> VNetFacts:
    base = _peered_vnet(CLUSTER_VNET, "10.10.0.0/16", "aks-to-runners", RUNNER_VNET, "10.20.0.0/16")
    return replace(base, **changes)


def rule(name: str, priority: int, direction: str, access: str, **changes: Any) -> NsgRule:
    base = NsgRule(name, priority, direction, access, "*", ("*",), ("*",), ("*",))
    return replace(base, **changes)


def https_out(name: str, priority: int, access: str, *destinations: str) -> NsgRule:
    """An outbound rule for TCP 443 to `destinations`, the way to an API server."""
    return rule(
        name,
        priority,
        "Outbound",
        access,
        protocol="Tcp",
        destinations=destinations,
        destination_ports=("443",),
    )


# The rules Azure puts in every NSG: name, priority, direction, access, sources, destinations.
DEFAULT_RULES = tuple(
    rule(name, priority, direction, access, sources=sources, destinations=destinations, default=True)
    for name, priority, direction, access, sources, destinations in (
        ("AllowVnetInBound", 65000, "Inbound", "Allow", ("VirtualNetwork",), ("VirtualNetwork",)),
        ("AllowAzureLoadBalancerInBound", 65001, "Inbound", "Allow", ("AzureLoadBalancer",), ("*",)),
        ("DenyAllInBound", 65500, "Inbound", "Deny", ("*",), ("*",)),
        ("AllowVnetOutBound", 65000, "Outbound", "Allow", ("VirtualNetwork",), ("VirtualNetwork",)),
        ("AllowInternetOutBound", 65001, "Outbound", "Allow", ("*",), ("Internet",)),
        ("DenyAllOutBound", 65500, "Outbound", "Deny", ("*",), ("*",)),
    )
)


def nsg(*rules: NsgRule) -> NsgFacts:
    return NsgFacts(NSG, "nsg-runners", (*rules, *DEFAULT_RULES))


# What infra/ deploys on the runner subnet: TCP 443 to the API server, nothing else in the VNet.
ISOLATED = (
    https_out("allow-api-server-https-outbound", 100, "Allow", "10.10.0.4"),
    rule("allow-azure-load-balancer-inbound", 3900, "Inbound", "Allow", sources=("AzureLoadBalancer",)),
    rule("deny-internet-inbound", 4000, "Inbound", "Deny", sources=("Internet",)),
    rule("deny-vnet-inbound", 4010, "Inbound", "Deny", sources=("VirtualNetwork",)),
    rule("deny-vnet-outbound", 4000, "Outbound", "Deny", destinations=("VirtualNetwork",)),
)


def link(vnet_id: str, name: str, state: str = "Completed", provisioning: str = "Succeeded") -> ZoneLinkFacts:
    return ZoneLinkFacts(f"{ZONE}/virtualNetworkLinks/{name}", name, vnet_id, state, provisioning)


def zone(*links: ZoneLinkFacts, zone_id: str = ZONE) -> ZoneFacts:
    return ZoneFacts(zone_id, zone_id.rsplit("/", 1)[-1], links)


def healthy(**changes: Any) -> PoolTopology:
    """aks-prod's topology as it should be: peered, linked, a private A record, room, an isolating NSG."""
    topology = PoolTopology(
        pool="aks-prod",
        subnet=Lookup(SUBNET, subnet_facts()),
        runner_vnet=Lookup(RUNNER_VNET, runner_vnet()),
        cluster=Lookup(FQDN, ApiServer(FQDN, FQDN, zone_id=ZONE)),
        cluster_vnet=Lookup(CLUSTER_VNET, cluster_vnet()),
        api_addresses=Lookup(f"{ZONE}/A/aks-prod-7f3a9c2e", ("10.10.0.4",)),
        zones=(
            ZoneCheck(
                Lookup(
                    ZONE, zone(link(CLUSTER_VNET, "link-vnet-aks"), link(RUNNER_VNET, "link-vnet-runners"))
                ),
                "api-server",
            ),
        ),
        nsg=Lookup(NSG, nsg(*ISOLATED)),
        sizes=Lookup(LOCATION_ID, {"standard_d2ads_v5": SizeOffer(), "standard_d2s_v5": SizeOffer()}),
        image=Lookup("Canonical:ubuntu-24_04-lts:server:latest", ImageFacts("x", True, True, "24.04.1")),
        subnet_pools=("aks-prod",),
        subnet_demand=8,
        subnet_api_addresses=("10.10.0.4",),
        nat_gateway=Lookup(NAT, nat_gateway()),
        forge_hosts=GITHUB_HOSTS,
    )
    return replace(topology, **changes)


def subnet_facts(**changes: Any) -> SubnetFacts:
    """snet-runners as infra/ makes it: a private subnet going out through its NAT gateway."""
    base = SubnetFacts(
        SUBNET,
        "snet-runners",
        ("10.20.0.0/24",),
        (),
        NSG,
        (),
        nat_gateway_id=NAT,
        default_outbound_access=False,
    )
    return replace(base, **changes)


def nat_gateway(**changes: Any) -> NatGatewayFacts:
    return replace(NatGatewayFacts(NAT, "ng-runners", "Succeeded", (PUBLIC_IP,)), **changes)


@dataclass
class MemoryTopologyReader:
    """A `TopologyReader` over dictionaries that counts reads and records the links it creates."""

    vnets: dict[str, VNetFacts] = field(default_factory=dict)
    subnets: dict[str, SubnetFacts] = field(default_factory=dict)
    nsgs: dict[str, NsgFacts] = field(default_factory=dict)
    zones: dict[str, ZoneFacts] = field(default_factory=dict)
    records: dict[str, tuple[str, ...]] = field(default_factory=dict)
    clusters: dict[str, AksFacts] = field(default_factory=dict)
    zones_by_group: dict[str, list[str]] = field(default_factory=dict)
    sizes: dict[str, SizeOffer] = field(default_factory=dict)
    route_tables: dict[str, RouteTableFacts] = field(default_factory=dict)
    nat_gateways: dict[str, NatGatewayFacts] = field(default_factory=dict)
    firewalls_by_subscription: dict[str, list[FirewallFacts]] = field(default_factory=dict)
    policies: dict[str, FirewallPolicyFacts] = field(default_factory=dict)
    ip_groups: dict[str, tuple[str, ...]] = field(default_factory=dict)
    endpoints: dict[str, PrivateEndpointFacts] = field(default_factory=dict)
    groups_of_endpoints: dict[str, tuple[ZoneGroupFacts, ...]] = field(default_factory=dict)
    # Reads that fail: a resource ID (lower case) -> the error it raises.
    failing: dict[str, Exception] = field(default_factory=dict)
    read_log: list[str] = field(default_factory=list)
    reads: int = 0
    links_created: list[tuple[str, str, str]] = field(default_factory=list)
    fail_with: Exception | None = None
    closed: bool = False

    async def _count(self, what: str = "") -> None:
        # A real read suspends: yielding here lets concurrent checks interleave as they would.
        await asyncio.sleep(0)
        self.reads += 1
        self.read_log.append(what)
        if self.fail_with is not None:
            raise self.fail_with
        if what.lower() in self.failing:
            raise self.failing[what.lower()]

    async def route_table(self, route_table_id: str) -> RouteTableFacts | None:
        await self._count(route_table_id)
        return self.route_tables.get(route_table_id.lower())

    async def nat_gateway(self, nat_gateway_id: str) -> NatGatewayFacts | None:
        await self._count(nat_gateway_id)
        return self.nat_gateways.get(nat_gateway_id.lower())

    async def firewalls(self, subscription: str) -> list[FirewallFacts]:
        await self._count(f"/subscriptions/{subscription}/azureFirewalls")
        return list(self.firewalls_by_subscription.get(subscription.lower(), []))

    async def firewall_policy(self, policy_id: str) -> FirewallPolicyFacts | None:
        await self._count(policy_id)
        return self.policies.get(policy_id.lower())

    async def ip_group(self, ip_group_id: str) -> tuple[str, ...] | None:
        await self._count(ip_group_id)
        return self.ip_groups.get(ip_group_id.lower())

    async def private_endpoint(self, endpoint_id: str) -> PrivateEndpointFacts | None:
        await self._count(endpoint_id)
        return self.endpoints.get(endpoint_id.lower())

    async def private_endpoints_in(self, subscription: str) -> list[PrivateEndpointFacts]:
        await self._count(f"/subscriptions/{subscription}/privateEndpoints")
        return [
            pe
            for pe in self.endpoints.values()
            if pe.id.lower().startswith(f"/subscriptions/{subscription}/".lower())
        ]

    async def zone_groups(self, endpoint_id: str) -> tuple[ZoneGroupFacts, ...]:
        await self._count(f"{endpoint_id}/privateDnsZoneGroups")
        return self.groups_of_endpoints.get(endpoint_id.lower(), ())

    async def vnet(self, vnet_id: str) -> VNetFacts | None:
        await self._count()
        return self.vnets.get(vnet_id.lower())

    async def subnet(self, subnet_id: str) -> SubnetFacts | None:
        await self._count()
        return self.subnets.get(subnet_id.lower())

    async def nsg(self, nsg_id: str) -> NsgFacts | None:
        await self._count()
        return self.nsgs.get(nsg_id.lower())

    async def vnets_in(self, subscription: str, resource_group: str) -> list[str]:
        await self._count()
        return [
            v.id for v in self.vnets.values() if f"/resourcegroups/{resource_group.lower()}/" in v.id.lower()
        ]

    async def zone(self, zone_id: str) -> ZoneFacts | None:
        await self._count()
        return self.zones.get(zone_id.lower())

    async def zones_in(self, subscription: str, resource_group: str) -> list[str]:
        await self._count()
        return list(self.zones_by_group.get(resource_group.lower(), []))

    async def a_record(self, zone_id: str, relative_name: str) -> tuple[str, ...] | None:
        await self._count()
        return self.records.get(f"{zone_id}/A/{relative_name}".lower())

    async def cluster(self, cluster_id: str) -> AksFacts | None:
        await self._count()
        return self.clusters.get(cluster_id.lower())

    async def vm_sizes(self, subscription: str, location: str) -> dict[str, SizeOffer]:
        await self._count()
        return dict(self.sizes)

    async def image(self, subscription: str, location: str, reference: str) -> ImageFacts:
        await self._count()
        return ImageFacts(reference, checked=True, found=True, resolved_version="24.04.1")

    async def create_link(self, zone_id: str, vnet_id: str, name: str) -> ZoneLinkFacts:
        self.links_created.append((zone_id, vnet_id, name))
        made = ZoneLinkFacts(f"{zone_id}/virtualNetworkLinks/{name}", name, vnet_id, "Completed", "Succeeded")
        current = self.zones[zone_id.lower()]
        self.zones[zone_id.lower()] = replace(current, links=(*current.links, made))
        return made

    async def close(self) -> None:
        self.closed = True


def healthy_reader() -> MemoryTopologyReader:
    """The Azure side of `healthy()`, for discovery, the gate and the fixer."""
    topology = healthy()
    subnet = topology.subnet.value
    zone_facts = topology.zones[0].zone.value
    nsg_facts = topology.nsg.value if topology.nsg is not None else None
    assert subnet is not None and zone_facts is not None and nsg_facts is not None
    return MemoryTopologyReader(
        vnets={RUNNER_VNET.lower(): runner_vnet(), CLUSTER_VNET.lower(): cluster_vnet()},
        subnets={SUBNET.lower(): subnet},
        nsgs={NSG.lower(): nsg_facts},
        zones={ZONE.lower(): zone_facts},
        records={f"{ZONE}/A/aks-prod-7f3a9c2e".lower(): ("10.10.0.4",)},
        sizes={"standard_d2ads_v5": SizeOffer(), "standard_d2s_v5": SizeOffer()},
        nat_gateways={NAT.lower(): nat_gateway()},
    )


# --- a private endpoint of the pool's container registry, in the runner VNet -----------------------

ACR_ID = (
    f"/subscriptions/{SUB}/resourceGroups/rg-shared/providers/Microsoft.ContainerRegistry/registries/acrprod"
)
ACR_PE = f"{NET}/privateEndpoints/pe-acrprod"
ENDPOINT_SUBNET = f"{RUNNER_VNET}/subnets/snet-endpoints"
ACR_ADDRESSES = {"acrprod": "10.20.1.4", "acrprod.westeurope.data": "10.20.1.5"}
ALLOW_ENDPOINTS = https_out("allow-private-endpoints-https-outbound", 110, "Allow", *ACR_ADDRESSES.values())


def acr_zone_group(**records: str) -> ZoneGroupFacts:
    """The endpoint's zone group in privatelink.azurecr.io (records: name -> address)."""
    wanted = records or ACR_ADDRESSES
    config = ZoneConfigFacts(
        "privatelink-azurecr-io",
        ACR_ZONE,
        tuple(
            ZoneGroupRecord(name, f"{name}.privatelink.azurecr.io", (address,))
            for name, address in wanted.items()
        ),
    )
    return ZoneGroupFacts(f"{ACR_PE}/privateDnsZoneGroups/default", "default", (config,))


def acr_endpoint(status: str = "Approved", **changes: Any) -> PrivateEndpointFacts:
    connection = EndpointConnection("pe-acrprod", ACR_ID, ("registry",), status, "Auto-Approved")
    base = PrivateEndpointFacts(
        ACR_PE,
        "pe-acrprod",
        ENDPOINT_SUBNET,
        (connection,),
        (
            ("acrprod.azurecr.io", (ACR_ADDRESSES["acrprod"],)),
            ("acrprod.westeurope.data.azurecr.io", (ACR_ADDRESSES["acrprod.westeurope.data"],)),
        ),
        zone_groups=(acr_zone_group(),),
    )
    return replace(base, **changes)


def acr_records(**addresses: tuple[str, ...] | None) -> tuple[Lookup[tuple[str, ...]], ...]:
    """The zone's A records for the endpoint (default: as the zone group says)."""
    found = {name: (address,) for name, address in ACR_ADDRESSES.items()} | addresses
    return tuple(Lookup(f"{ACR_ZONE}/A/{name}", value) for name, value in found.items())


def acr_zone(*links: ZoneLinkFacts) -> ZoneFacts:
    chosen = links or (
        ZoneLinkFacts(
            f"{ACR_ZONE}/virtualNetworkLinks/link-vnet-runners",
            "link-vnet-runners",
            RUNNER_VNET,
            "Completed",
            "Succeeded",
        ),
    )
    return ZoneFacts(ACR_ZONE, "privatelink.azurecr.io", chosen)


def with_acr(
    topology: PoolTopology | None = None, *endpoints: PrivateEndpointFacts, **changes: Any
) -> PoolTopology:
    """`topology` (default: healthy) whose pool lists the registry acrprod, found with `endpoints`."""
    base = topology or healthy(nsg=Lookup(NSG, nsg(*ISOLATED, ALLOW_ENDPOINTS)))
    check = EndpointCheck(ACR_ID, Lookup(ACR_ID, endpoints or (acr_endpoint(),)), acr_records(), (SUB,))
    zones = (*base.zones, ZoneCheck(Lookup(ACR_ZONE, acr_zone()), "endpoint"))
    return replace(base, endpoints=(check,), zones=zones, **changes)


def acr_pool(**overrides: Any) -> Pool:
    return cluster_pool(private_endpoints=[ACR_ID], **overrides)


def acr_reader() -> MemoryTopologyReader:
    """healthy_reader() with the registry's endpoint, its zone group, zone and records, and the NSG rule."""
    reader = healthy_reader()
    reader.nsgs[NSG.lower()] = nsg(*ISOLATED, ALLOW_ENDPOINTS)
    reader.endpoints[ACR_PE.lower()] = replace(acr_endpoint(), zone_groups=None)
    reader.groups_of_endpoints[ACR_PE.lower()] = (acr_zone_group(),)
    reader.zones[ACR_ZONE.lower()] = acr_zone()
    for name, address in ACR_ADDRESSES.items():
        reader.records[f"{ACR_ZONE}/A/{name}".lower()] = (address,)
    return reader
