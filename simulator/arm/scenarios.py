"""Named network scenarios: whole topologies for the ARM simulator, each healthy but for one fault.

`healthy` is what a platform team should have: runner VNets peered both ways with the cluster's
VNet, the cluster's private DNS zone linked to every runner VNet, an A record with a private
address, Azure-provided DNS, roomy undelegated subnets and an NSG that admits nothing from the
Internet or the VNet and lets runners reach only their API server (TCP 443), as infra/ deploys it;
runners for the second cluster (`aks-int`) have their own subnet and NSG. Every other scenario
breaks exactly one of those, the way it breaks in real subscriptions.
`demo` is the default topology: healthy for the first runner VNet and forgetting the zone link of
the second (`vnet-ops`), so the demo can show a pool refused by the preflight.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from simulator.arm.config import ArmConfig, ImageSpec, VmSize, default_images, default_sizes
from simulator.arm.topology import (
    DEFAULT_LOCATION,
    DEFAULT_SUBSCRIPTION_ID,
    ARecordSpec,
    ManagedClusterSpec,
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
    nsg_id,
    subnet_id,
    vnet_id,
    zone_id,
)

AKS_ZONE = "privatelink.westeurope.azmk8s.io"
AKS_FQDN = f"aks-prod-7f3a9c2e.{AKS_ZONE}"
AKS_ADDRESS = "10.10.0.4"
AKS_ZONE_ID = zone_id("rg-aks", AKS_ZONE)
AKS_CLUSTER_ID = (
    f"/subscriptions/{DEFAULT_SUBSCRIPTION_ID}/resourceGroups/rg-aks"
    "/providers/Microsoft.ContainerService/managedClusters/aks-prod"
)
# A second cluster with API server VNet integration and an AKS-managed ("system") zone.
INT_NODE_RG = "MC_rg-aks_aks-int_westeurope"
INT_ZONE = "5a7f3c21-8d4b-4e6a-9f0c-1b2d3e4f5a6b.private.westeurope.azmk8s.io"
INT_FQDN = f"aks-int-4b1c9d2e.{INT_ZONE}"
INT_ADDRESS = "10.10.4.4"
INT_CLUSTER_ID = (
    f"/subscriptions/{DEFAULT_SUBSCRIPTION_ID}/resourceGroups/rg-aks"
    "/providers/Microsoft.ContainerService/managedClusters/aks-int"
)

RUNNERS_VNET = vnet_id("rg-runners", "vnet-runners")
OPS_VNET = vnet_id("rg-runners", "vnet-ops")
AKS_VNET = vnet_id("rg-aks", "vnet-aks")
RUNNERS_SUBNET = subnet_id("rg-runners", "vnet-runners", "snet-runners")
INT_SUBNET = subnet_id("rg-runners", "vnet-runners", "snet-runners-int")
OPS_SUBNET = subnet_id("rg-runners", "vnet-ops", "snet-ops")
RUNNERS_NSG = nsg_id("rg-runners", "nsg-runners")
INT_NSG = nsg_id("rg-runners", "nsg-runners-int")
CUSTOM_DNS_SERVERS = ("10.20.255.4", "10.20.255.5")
API_SERVER_RULE = "allow-api-server-https-outbound"
PUBLIC_ADDRESS = "20.61.45.12"


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


def healthy_topology() -> Topology:
    sub = DEFAULT_SUBSCRIPTION_ID
    return Topology(
        subscriptions=(
            SubscriptionSpec(
                id=sub,
                resource_groups=(
                    ResourceGroupSpec("rg-runners", DEFAULT_LOCATION),
                    ResourceGroupSpec("rg-aks", DEFAULT_LOCATION),
                    ResourceGroupSpec("MC_rg-aks_aks-prod_westeurope", DEFAULT_LOCATION),
                    ResourceGroupSpec(INT_NODE_RG, DEFAULT_LOCATION),
                ),
                vnets=(
                    VNetSpec(
                        "rg-runners",
                        "vnet-runners",
                        ("10.20.0.0/16",),
                        (
                            SubnetSpec("snet-runners", "10.20.0.0/24", nsg_id=RUNNERS_NSG),
                            SubnetSpec("snet-runners-int", "10.20.1.0/24", nsg_id=INT_NSG),
                        ),
                    ),
                    VNetSpec(
                        "rg-runners",
                        "vnet-ops",
                        ("10.30.0.0/16",),
                        (SubnetSpec("snet-ops", "10.30.0.0/24", nsg_id=RUNNERS_NSG),),
                    ),
                    VNetSpec(
                        "rg-aks",
                        "vnet-aks",
                        ("10.10.0.0/16",),
                        (
                            SubnetSpec("snet-aks-nodes", "10.10.0.0/22"),
                            SubnetSpec(
                                "snet-aks-apiserver",
                                "10.10.4.0/28",
                                delegations=("Microsoft.ContainerService/managedClusters",),
                            ),
                            SubnetSpec("snet-aks-int-nodes", "10.10.8.0/22"),
                        ),
                    ),
                ),
                peerings=(
                    PeeringSpec("runners-to-aks", RUNNERS_VNET, AKS_VNET),
                    PeeringSpec("aks-to-runners", AKS_VNET, RUNNERS_VNET),
                    PeeringSpec("ops-to-aks", OPS_VNET, AKS_VNET),
                    PeeringSpec("aks-to-ops", AKS_VNET, OPS_VNET),
                ),
                nsgs=(
                    NsgSpec("rg-runners", "nsg-runners", isolated_rules(AKS_ADDRESS)),
                    NsgSpec("rg-runners", "nsg-runners-int", isolated_rules(INT_ADDRESS)),
                ),
                private_zones=(
                    PrivateZoneSpec(
                        "rg-aks",
                        AKS_ZONE,
                        (ARecordSpec("aks-prod-7f3a9c2e", (AKS_ADDRESS,)),),
                        (
                            ZoneLinkSpec("link-vnet-aks", AKS_VNET),
                            ZoneLinkSpec("link-vnet-runners", RUNNERS_VNET),
                            ZoneLinkSpec("link-vnet-ops", OPS_VNET),
                        ),
                    ),
                    PrivateZoneSpec(
                        INT_NODE_RG,
                        INT_ZONE,
                        (ARecordSpec("aks-int-4b1c9d2e", (INT_ADDRESS,)),),
                        (
                            ZoneLinkSpec("aks-int-vnet-link", AKS_VNET),
                            ZoneLinkSpec("link-vnet-runners", RUNNERS_VNET),
                            ZoneLinkSpec("link-vnet-ops", OPS_VNET),
                        ),
                    ),
                ),
                clusters=(
                    ManagedClusterSpec(
                        "rg-aks",
                        "aks-prod",
                        "MC_rg-aks_aks-prod_westeurope",
                        AKS_FQDN,
                        private_dns_zone=AKS_ZONE_ID,
                        node_subnet_id=subnet_id("rg-aks", "vnet-aks", "snet-aks-nodes"),
                        api_server_address=AKS_ADDRESS,
                    ),
                    ManagedClusterSpec(
                        "rg-aks",
                        "aks-int",
                        INT_NODE_RG,
                        INT_FQDN,
                        private_dns_zone="system",
                        node_subnet_id=subnet_id("rg-aks", "vnet-aks", "snet-aks-int-nodes"),
                        api_server_subnet_id=subnet_id("rg-aks", "vnet-aks", "snet-aks-apiserver"),
                        api_server_address=INT_ADDRESS,
                    ),
                ),
            ),
        ),
        locations=(DEFAULT_LOCATION,),
    )


def isolated_rules(api_server: str) -> tuple[NsgRuleSpec, ...]:
    """The runner NSG infra/modules/runner-network.bicep deploys: TCP 443 to the API server, no more."""
    return (
        NsgRuleSpec(API_SERVER_RULE, 100, "Outbound", "Allow", "Tcp", "*", api_server, "443"),
        NsgRuleSpec("allow-azure-load-balancer-inbound", 3900, "Inbound", "Allow", "*", "AzureLoadBalancer"),
        NsgRuleSpec("deny-internet-inbound", 4000, "Inbound", "Deny", "*", "Internet"),
        NsgRuleSpec("deny-vnet-inbound", 4010, "Inbound", "Deny", "*", "VirtualNetwork"),
        NsgRuleSpec("deny-vnet-outbound", 4000, "Outbound", "Deny", "*", "*", "VirtualNetwork"),
    )


# --- editing a topology --------------------------------------------------------------------------


def _edit(topology: Topology, change: Callable[[SubscriptionSpec], SubscriptionSpec]) -> Topology:
    first, *rest = topology.subscriptions
    return replace(topology, subscriptions=(change(first), *rest))


def _vnet(name: str, change: Callable[[VNetSpec], VNetSpec]) -> Callable[[Topology], Topology]:
    def apply(topology: Topology) -> Topology:
        return _edit(
            topology,
            lambda sub: replace(sub, vnets=tuple(change(v) if v.name == name else v for v in sub.vnets)),
        )

    return apply


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
    def apply(topology: Topology) -> Topology:
        return _edit(
            topology,
            lambda sub: replace(
                sub, private_zones=tuple(change(z) if z.name == name else z for z in sub.private_zones)
            ),
        )

    return apply


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
    def apply(topology: Topology) -> Topology:
        return _edit(
            topology,
            lambda sub: replace(
                sub,
                nsgs=tuple(
                    replace(n, rules=change(n.rules)) if n.name == "nsg-runners" else n for n in sub.nsgs
                ),
            ),
        )

    return apply


def _nsg_rule(rule: NsgRuleSpec) -> Callable[[Topology], Topology]:
    return _nsg_rules(lambda rules: (*rules, rule))


def _restricted(size_name: str, location: str) -> tuple[VmSize, ...]:
    return tuple(
        replace(s, restricted_locations=(*s.restricted_locations, location)) if s.name == size_name else s
        for s in default_sizes()
    )


# --- the scenarios -------------------------------------------------------------------------------

_DEMO = _link(AKS_ZONE, "link-vnet-ops", None)

_TOPOLOGY_FAULTS: dict[str, tuple[str, Callable[[Topology], Topology]]] = {
    "healthy": ("every runner VNet peered with the cluster VNet and linked to its zones", lambda t: t),
    "demo": ("healthy, but vnet-ops is not linked to the cluster's zone (the demo's refused pool)", _DEMO),
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


def demo_topology() -> Topology:
    return _DEMO(healthy_topology())
