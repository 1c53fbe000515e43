"""Named network scenarios: whole topologies for the ARM simulator, each healthy but for one fault.

Every scenario but `healthy`, `demo` (the default topology) and `firewall-egress` (healthy, with a
firewall as the way out) breaks exactly one thing of `healthy_topology` (see
`simulator.arm.topology`), the way it breaks in real subscriptions.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from simulator.arm.config import ArmConfig, ImageSpec, VmSize, default_images, default_sizes
from simulator.arm.network_specs import (
    ApplicationRuleSpec,
    AzureFirewallSpec,
    FirewallPolicySpec,
    PrivateEndpointSpec,
    RouteSpec,
    RouteTableSpec,
    RuleCollectionGroupSpec,
    RuleCollectionSpec,
    firewall_policy_id,
    route_table_id,
)
from simulator.arm.topology import (
    ACR_ZONE,
    AKS_ADDRESS,
    AKS_ZONE,
    API_SERVER_RULE,
    CUSTOM_DNS_SERVERS,
    DEFAULT_LOCATION,
    ENDPOINT_ADDRESSES,
    KEYVAULT_PE,
    KEYVAULT_ZONE,
    NAT_GATEWAY,
    PUBLIC_ADDRESS,
    RUNNERS_VNET,
    ARecordSpec,
    NsgRuleSpec,
    NsgSpec,
    PeeringSpec,
    PrivateZoneSpec,
    ResourceGroupSpec,
    SubnetSpec,
    SubscriptionSpec,
    Topology,
    VNetSpec,
    ZoneLinkSpec,
    default_topology,
    healthy_topology,
    isolated_rules,
    subnet_id,
    vnet_id,
)

# A hub VNet peered with vnet-runners, holding an Azure Firewall or a third-party appliance.
HUB_VNET = vnet_id("rg-hub", "vnet-hub")
FIREWALL_SUBNET = subnet_id("rg-hub", "vnet-hub", "AzureFirewallSubnet")
FIREWALL = "afw-hub"
FIREWALL_IP = "10.40.0.4"
FIREWALL_POLICY = "afwp-runners"
APPLIANCE_IP = "10.40.1.4"
ROUTE_TABLE = "rt-runners"
ROUTE_TABLE_ID = route_table_id("rg-runners", ROUTE_TABLE)
# The hosts GitHub lists for self-hosted runners ("Communicating with self-hosted runners",
# docs.github.com), as runner_fleet.preflight.forge_hosts.GITHUB_HOSTS names them (a test keeps them equal).
GITHUB_FQDNS = (
    "github.com",
    "api.github.com",
    "*.actions.githubusercontent.com",
    "codeload.github.com",
    "results-receiver.actions.githubusercontent.com",
    "*.blob.core.windows.net",
    "objects.githubusercontent.com",
)
UBUNTU_MIRRORS = ("archive.ubuntu.com", "security.ubuntu.com", "azure.archive.ubuntu.com")


@dataclass(frozen=True)
class Scenario:
    name: str
    summary: str  # what is wrong, one line
    topology: Topology
    sizes: tuple[VmSize, ...] | None = None  # None: the default catalogue
    images: tuple[ImageSpec, ...] | None = None

    def arm_config(self, base: ArmConfig | None = None) -> ArmConfig:
        config = base or ArmConfig()
        return replace(
            config,
            topology=self.topology,
            sizes=self.sizes if self.sizes is not None else config.sizes,
            images=self.images if self.images is not None else config.images,
        )


# --- editing a topology --------------------------------------------------------------------------


def _edit(topology: Topology, change: Callable[[SubscriptionSpec], SubscriptionSpec]) -> Topology:
    first, *rest = topology.subscriptions
    return replace(topology, subscriptions=(change(first), *rest))


def _named(field: str, name: str, change: Callable[[Any], Any]) -> Callable[[Topology], Topology]:
    """Change the item called `name` among the first subscription's `field` (vnets, nsgs, ...)."""

    def edit(sub: SubscriptionSpec) -> SubscriptionSpec:
        items = tuple(change(x) if x.name == name else x for x in getattr(sub, field))
        changes: dict[str, Any] = {field: items}
        return replace(sub, **changes)

    return lambda topology: _edit(topology, edit)


def _vnet(name: str, change: Callable[[VNetSpec], VNetSpec]) -> Callable[[Topology], Topology]:
    return _named("vnets", name, change)


def _runner_subnet(change: Callable[[SubnetSpec], SubnetSpec]) -> Callable[[Topology], Topology]:
    return _vnet(
        "vnet-runners",
        lambda v: replace(v, subnets=tuple(change(s) if s.name == "snet-runners" else s for s in v.subnets)),
    )


def _peerings(
    change: Callable[[tuple[PeeringSpec, ...]], tuple[PeeringSpec, ...]],
) -> Callable[[Topology], Topology]:
    return lambda t: _edit(t, lambda sub: replace(sub, peerings=change(sub.peerings)))


def _peering(name: str, **changes: object) -> Callable[[Topology], Topology]:
    return _peerings(lambda ps: tuple(replace(p, **changes) if p.name == name else p for p in ps))  # type: ignore[arg-type]


def _without_peering(*names: str) -> Callable[[Topology], Topology]:
    return _peerings(lambda ps: tuple(p for p in ps if p.name not in names))


def _zone(name: str, change: Callable[[PrivateZoneSpec], PrivateZoneSpec]) -> Callable[[Topology], Topology]:
    return _named("private_zones", name, change)


def _link(
    zone: str, link: str, change: Callable[[ZoneLinkSpec], ZoneLinkSpec] | None
) -> Callable[[Topology], Topology]:
    """Change one zone link, or remove it when `change` is None."""

    def edit_links(z: PrivateZoneSpec) -> PrivateZoneSpec:
        links = tuple(
            change(lk) if change is not None and lk.name == link else lk
            for lk in z.links
            if change is not None or lk.name != link
        )
        return replace(z, links=links)

    return _zone(zone, edit_links)


def _nsg_rules(
    change: Callable[[tuple[NsgRuleSpec, ...]], tuple[NsgRuleSpec, ...]],
) -> Callable[[Topology], Topology]:
    def edit(nsg: NsgSpec) -> NsgSpec:
        return replace(nsg, rules=change(nsg.rules))

    return _named("nsgs", "nsg-runners", edit)


def _nsg_rule(rule: NsgRuleSpec) -> Callable[[Topology], Topology]:
    return _nsg_rules(lambda rules: (*rules, rule))


def _egress(nat_gateway: str | None, default_outbound_access: bool | None) -> Callable[[Topology], Topology]:
    """snet-runners' way out: its NAT gateway (None: none) and defaultOutboundAccess (None: absent)."""
    return _runner_subnet(
        lambda s: replace(s, nat_gateway_id=nat_gateway, default_outbound_access=default_outbound_access)
    )


def _add(**items: tuple[Any, ...]) -> Callable[[Topology], Topology]:
    """Append to the first subscription's lists (vnets=(...), peerings=(...), ...)."""

    def edit(sub: SubscriptionSpec) -> SubscriptionSpec:
        changes: dict[str, Any] = {name: (*getattr(sub, name), *added) for name, added in items.items()}
        return replace(sub, **changes)

    return lambda topology: _edit(topology, edit)


def _hub(topology: Topology) -> Topology:
    """A hub VNet (an AzureFirewallSubnet and an appliance subnet) peered both ways with vnet-runners."""
    hub = VNetSpec(
        "rg-hub",
        "vnet-hub",
        ("10.40.0.0/16",),
        (SubnetSpec("AzureFirewallSubnet", "10.40.0.0/26"), SubnetSpec("snet-nva", "10.40.1.0/24")),
    )
    return _add(
        resource_groups=(ResourceGroupSpec("rg-hub", DEFAULT_LOCATION),),
        vnets=(hub,),
        peerings=(
            PeeringSpec("runners-to-hub", RUNNERS_VNET, HUB_VNET),
            PeeringSpec("hub-to-runners", HUB_VNET, RUNNERS_VNET),
        ),
    )(topology)


def _routed_to(next_hop: str) -> Callable[[Topology], Topology]:
    """snet-runners sends 0.0.0.0/0 to `next_hop` (a route table, no NAT gateway, a private subnet) and
    nsg-runners denies the private ranges instead of VirtualNetwork, as infra/ deploys it behind a
    firewall (the tag would hold the route's 0.0.0.0/0)."""
    table = RouteTableSpec(
        "rg-runners",
        ROUTE_TABLE,
        (RouteSpec("default-to-firewall", "0.0.0.0/0", "VirtualAppliance", next_hop),),
        disable_bgp_route_propagation=True,
    )

    def change(topology: Topology) -> Topology:
        topology = _add(route_tables=(table,))(_hub(topology))
        topology = _runner_subnet(
            lambda s: replace(
                s, route_table_id=ROUTE_TABLE_ID, nat_gateway_id=None, default_outbound_access=False
            )
        )(topology)
        rules = isolated_rules(AKS_ADDRESS, ENDPOINT_ADDRESSES, through_firewall=True)
        return _named("nsgs", "nsg-runners", lambda n: replace(n, rules=rules))(topology)

    return change


def _firewall(*collections: RuleCollectionSpec) -> Callable[[Topology], Topology]:
    """Azure Firewall afw-hub in vnet-hub with policy afwp-runners, and snet-runners routed to it."""
    policy = FirewallPolicySpec(
        "rg-hub", FIREWALL_POLICY, (RuleCollectionGroupSpec("rcg-runners", 200, collections),)
    )
    firewall = AzureFirewallSpec(
        "rg-hub",
        FIREWALL,
        FIREWALL_SUBNET,
        FIREWALL_IP,
        firewall_policy_id=firewall_policy_id("rg-hub", FIREWALL_POLICY),
    )
    return lambda t: _add(firewall_policies=(policy,), firewalls=(firewall,))(_routed_to(FIREWALL_IP)(t))


def _allow(name: str, priority: int, *rules: tuple[str, tuple[str, ...]]) -> RuleCollectionSpec:
    """An Allow collection of HTTPS application rules from the runner VNet: (rule name, FQDNs)."""
    return RuleCollectionSpec(
        name,
        priority,
        "Allow",
        tuple(ApplicationRuleSpec(rule, fqdns, source_addresses=("10.20.0.0/16",)) for rule, fqdns in rules),
    )


def _endpoint(
    name: str, change: Callable[[PrivateEndpointSpec], PrivateEndpointSpec]
) -> Callable[[Topology], Topology]:
    return _named("private_endpoints", name, change)


def _restricted(size_name: str, location: str) -> tuple[VmSize, ...]:
    return tuple(
        replace(s, restricted_locations=(*s.restricted_locations, location)) if s.name == size_name else s
        for s in default_sizes()
    )


# --- the scenarios -------------------------------------------------------------------------------

_TOPOLOGY_FAULTS: dict[str, tuple[str, Callable[[Topology], Topology]]] = {
    "healthy": (
        "every runner VNet peered with the cluster VNet and linked to its zones and the registry's and key "
        "vault's; runners get out through NAT gateways",
        lambda t: t,
    ),
    "demo": (
        "healthy, but vnet-ops is not linked to the cluster's zone (the demo's refused pool)",
        lambda _: default_topology(),
    ),
    "missing-dns-link": (
        f"{AKS_ZONE} has no virtual network link to vnet-runners",
        _link(AKS_ZONE, "link-vnet-runners", None),
    ),
    "link-in-progress": (
        f"the link of {AKS_ZONE} to vnet-runners is still InProgress",
        _link(AKS_ZONE, "link-vnet-runners", lambda lk: replace(lk, state="InProgress")),
    ),
    "one-sided-peering": (
        "vnet-aks peers with vnet-runners (Initiated) but vnet-runners has no peering back",
        lambda t: _peering("aks-to-runners", state="Initiated")(_without_peering("runners-to-aks")(t)),
    ),
    "peering-initiated": (
        "vnet-runners peers with vnet-aks but the peering stays Initiated: vnet-aks has none back",
        lambda t: _peering("runners-to-aks", state="Initiated")(_without_peering("aks-to-runners")(t)),
    ),
    "peering-disconnected": (
        "the peering vnet-runners -> vnet-aks is Disconnected (its remote side was deleted and re-made)",
        _peering("runners-to-aks", state="Disconnected"),
    ),
    "peering-not-in-sync": (
        "the peering vnet-runners -> vnet-aks is LocalNotInSync after an address space change",
        lambda t: _peering("aks-to-runners", sync_level="RemoteNotInSync")(
            _peering("runners-to-aks", sync_level="LocalNotInSync")(t)
        ),
    ),
    "no-peering": (
        "vnet-runners and vnet-aks are not peered at all",
        _without_peering("runners-to-aks", "aks-to-runners"),
    ),
    "custom-dns": (
        f"vnet-runners uses custom DNS servers {', '.join(CUSTOM_DNS_SERVERS)} "
        "that do not forward to Azure DNS",
        _vnet("vnet-runners", lambda v: replace(v, dns_servers=CUSTOM_DNS_SERVERS)),
    ),
    "subnet-full": (
        "snet-runners is a /28 with 5 addresses taken: 6 free for a pool of 8",
        _runner_subnet(lambda s: replace(s, address_prefix="10.20.0.0/28", occupied=5)),
    ),
    "delegated-subnet": (
        "snet-runners is delegated to Microsoft.Web/serverFarms",
        _runner_subnet(lambda s: replace(s, delegations=("Microsoft.Web/serverFarms",))),
    ),
    "open-inbound-nsg": (
        "nsg-runners allows SSH from the Internet",
        _nsg_rule(NsgRuleSpec("allow-ssh-internet", 100, "Inbound", "Allow", "Tcp", "Internet", "*", "22")),
    ),
    "outbound-443-denied": (
        "nsg-runners denies outbound 443 to the cluster's VNet (its allow for the API server is gone)",
        _nsg_rules(
            lambda rules: (
                *(r for r in rules if r.name != API_SERVER_RULE),
                NsgRuleSpec("deny-https-to-aks", 300, "Outbound", "Deny", "Tcp", "*", "10.10.0.0/16", "443"),
            )
        ),
    ),
    "open-vnet": (
        "nsg-runners denies only the Internet inbound, so Azure's default VNet rules let runners reach the "
        "whole cluster network (kubelets, NodePorts, pods) and accept connections from it",
        _nsg_rules(lambda rules: tuple(r for r in rules if r.name == "deny-internet-inbound")),
    ),
    "public-dns-answer": (
        f"the A record for the API server points at public address {PUBLIC_ADDRESS}",
        _zone(
            AKS_ZONE,
            lambda z: replace(z, records=(ARecordSpec("aks-prod-7f3a9c2e", (PUBLIC_ADDRESS,)),)),
        ),
    ),
    "no-egress": (
        f"snet-runners is a private subnet (defaultOutboundAccess false) and its NAT gateway {NAT_GATEWAY} "
        "is gone: runners cannot reach their forge",
        _egress(None, False),
    ),
    "default-outbound": (
        f"snet-runners has no NAT gateway ({NAT_GATEWAY} is gone) and no defaultOutboundAccess: runners get "
        "out through implicit default outbound access",
        _egress(None, None),
    ),
    "firewall-blocks-forge": (
        f"snet-runners routes 0.0.0.0/0 ({ROUTE_TABLE}) to Azure Firewall {FIREWALL}, whose policy "
        f"{FIREWALL_POLICY} allows only the Ubuntu mirrors, not the forges",
        _firewall(_allow("allow-os-updates", 100, ("ubuntu-mirrors", UBUNTU_MIRRORS))),
    ),
    "firewall-egress": (
        f"healthy through a firewall: snet-runners routes 0.0.0.0/0 ({ROUTE_TABLE}) to Azure Firewall "
        f"{FIREWALL}, whose policy {FIREWALL_POLICY} allows the GitHub hosts and gitlab.com",
        _firewall(
            _allow("allow-os-updates", 100, ("ubuntu-mirrors", UBUNTU_MIRRORS)),
            _allow("allow-forges", 200, ("github", GITHUB_FQDNS), ("gitlab", ("gitlab.com",))),
        ),
    ),
    "appliance-egress": (
        f"snet-runners routes 0.0.0.0/0 ({ROUTE_TABLE}) to {APPLIANCE_IP}, a third-party appliance whose "
        "rules Azure cannot show",
        _routed_to(APPLIANCE_IP),
    ),
    "acr-zone-unlinked": (
        f"{ACR_ZONE} has no virtual network link to vnet-runners: the registry acrprod resolves to its "
        "public address",
        _link(ACR_ZONE, "link-vnet-runners", None),
    ),
    "keyvault-zone-unlinked": (
        f"{KEYVAULT_ZONE} has no virtual network link to vnet-runners: the key vault kv-prod resolves to its "
        "public address",
        _link(KEYVAULT_ZONE, "link-vnet-runners", None),
    ),
    "endpoint-pending": (
        f"the private endpoint {KEYVAULT_PE}'s connection to kv-prod is Pending (a manual request nobody "
        "approved yet)",
        _endpoint(KEYVAULT_PE, lambda pe: replace(pe, status="Pending", manual=True)),
    ),
    "vnet-other-region": (
        "vnet-runners is in northeurope while the pools place VMs in westeurope",
        lambda t: replace(
            _vnet("vnet-runners", lambda v: replace(v, location="northeurope"))(t),
            locations=(*t.locations, "northeurope"),
        ),
    ),
}


def _scenarios() -> dict[str, Scenario]:
    healthy = healthy_topology()
    found = {
        name: Scenario(name, summary, build(healthy)) for name, (summary, build) in _TOPOLOGY_FAULTS.items()
    }
    found["sku-not-offered"] = Scenario(
        "sku-not-offered",
        "Standard_D2ads_v5 is not available to the subscription in westeurope",
        healthy,
        sizes=_restricted("Standard_D2ads_v5", DEFAULT_LOCATION),
    )
    found["image-not-offered"] = Scenario(
        "image-not-offered",
        "the marketplace image Canonical:ubuntu-24_04-lts:server is not offered in westeurope",
        healthy,
        images=tuple(i for i in default_images() if i.offer != "ubuntu-24_04-lts"),
    )
    return found


def scenario_names() -> list[str]:
    return list(_scenarios())


def scenario(name: str) -> Scenario:
    """The named scenario; KeyError names the known ones."""
    found = _scenarios()
    if name not in found:
        raise KeyError(f"unknown scenario {name!r}; known: {', '.join(found)}")
    return found[name]


def scenarios() -> list[Scenario]:
    return list(_scenarios().values())
