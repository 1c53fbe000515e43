"""The network as a runner VM sees it, per preset: what a name resolves to (rule arm.vm-dns) and
whether a connection gets through, and which resource decided (rules arm.vm-routes, arm.vm-egress,
arm.firewall-rules, arm.private-endpoint-state)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest

from runner_fleet.preflight.forge_hosts import GITHUB_HOSTS
from simulator.arm.dns_view import resolve
from simulator.arm.firewall import Flow, evaluate, firewall_at
from simulator.arm.guest.probe import reach
from simulator.arm.ids import ResourceId
from simulator.arm.network_specs import (
    ApplicationRuleSpec,
    AzureFirewallSpec,
    FirewallPolicySpec,
    NatGatewaySpec,
    NetworkRuleSpec,
    RouteSpec,
    RouteTableSpec,
    RuleCollectionGroupSpec,
    RuleCollectionSpec,
    firewall_policy_id,
    nat_gateway_id,
)
from simulator.arm.paths import connect
from simulator.arm.scenarios import (
    FIREWALL_SUBNET,
    GITHUB_FQDNS,
    ROUTE_TABLE_ID,
    scenario,
    scenario_names,
    scenarios,
)
from simulator.arm.seeding import seed_topology
from simulator.arm.seeding_network import public_address_for
from simulator.arm.store import ResourceStore
from simulator.arm.topology import (
    ACR_ADDRESS,
    ACR_DATA_FQDN,
    ACR_FQDN,
    ACR_PUBLIC_ADDRESS,
    AKS_FQDN,
    KEYVAULT_ADDRESS,
    KEYVAULT_FQDN,
    KEYVAULT_PUBLIC_ADDRESS,
    RUNNERS_SUBNET,
    RUNNERS_VNET,
    NsgRuleSpec,
    SubnetSpec,
    SubscriptionSpec,
    Topology,
    VNetSpec,
    healthy_topology,
)

NAT = "through NAT gateway ng-runners (20.50.20.4)"
NO_WAY_OUT = "snet-runners is a private subnet (defaultOutboundAccess false) with no NAT gateway"
FIREWALL_DENIES = "sends it to Azure Firewall afw-hub: no rule allows TCP 443 to"
PEERED = "over the peering vnet-runners <-> vnet-aks"


def store_of(topology: Topology) -> ResourceStore:
    store = ResourceStore()
    seed_topology(store, topology)
    return store


def preset(name: str) -> ResourceStore:
    return store_of(scenario(name).topology)


# preset, name, address (None: unresolved), connects, in the reason
CASES = [
    ("healthy", "github.com", public_address_for("github.com"), True, NAT),
    ("healthy", AKS_FQDN, "10.10.0.4", True, PEERED),
    ("healthy", ACR_FQDN, ACR_ADDRESS, True, PEERED),
    ("healthy", ACR_DATA_FQDN, "10.10.12.5", True, PEERED),
    ("healthy", KEYVAULT_FQDN, KEYVAULT_ADDRESS, True, PEERED),
    ("custom-dns", "github.com", public_address_for("github.com"), True, NAT),
    ("custom-dns", AKS_FQDN, None, False, "custom DNS servers 10.20.255.4, 10.20.255.5 do not forward"),
    ("custom-dns", ACR_FQDN, ACR_PUBLIC_ADDRESS, True, NAT),
    ("no-egress", "github.com", public_address_for("github.com"), False, NO_WAY_OUT),
    ("no-egress", "gitlab.com", public_address_for("gitlab.com"), False, NO_WAY_OUT),
    ("no-egress", ACR_FQDN, ACR_ADDRESS, True, PEERED),
    ("default-outbound", "github.com", public_address_for("github.com"), True, "default outbound access"),
    ("firewall-blocks-forge", "github.com", public_address_for("github.com"), False, FIREWALL_DENIES),
    ("firewall-blocks-forge", "archive.ubuntu.com", public_address_for("archive.ubuntu.com"), True, "ubuntu"),
    ("firewall-blocks-forge", AKS_FQDN, "10.10.0.4", True, PEERED),
    ("firewall-egress", "github.com", public_address_for("github.com"), True, "application rule github"),
    (
        "firewall-egress",
        "broker.actions.githubusercontent.com",
        public_address_for("broker.actions.githubusercontent.com"),
        True,
        "rule collection allow-forges",
    ),
    ("firewall-egress", "gitlab.com", public_address_for("gitlab.com"), True, "application rule gitlab"),
    ("firewall-egress", "example.com", public_address_for("example.com"), False, FIREWALL_DENIES),
    ("firewall-egress", KEYVAULT_FQDN, KEYVAULT_ADDRESS, True, PEERED),
    (
        "appliance-egress",
        "github.com",
        public_address_for("github.com"),
        False,
        "a third-party appliance at 10.40.1.4: the simulator drops",
    ),
    ("acr-zone-unlinked", ACR_FQDN, ACR_PUBLIC_ADDRESS, True, NAT),
    ("acr-zone-unlinked", KEYVAULT_FQDN, KEYVAULT_ADDRESS, True, PEERED),
    ("keyvault-zone-unlinked", KEYVAULT_FQDN, KEYVAULT_PUBLIC_ADDRESS, True, NAT),
    (
        "endpoint-pending",
        KEYVAULT_FQDN,
        KEYVAULT_ADDRESS,
        False,
        "pe-kv-prod's connection to kv-prod is Pending",
    ),
    ("endpoint-pending", ACR_FQDN, ACR_ADDRESS, True, PEERED),
]


@pytest.mark.parametrize(
    ("name", "host", "address", "connects", "why"), CASES, ids=[f"{c[0]}/{c[1]}" for c in CASES]
)
def test_each_preset_resolves_and_connects_as_azure_would(
    name: str, host: str, address: str | None, connects: bool, why: str
) -> None:
    """Rules arm.vm-dns, arm.vm-egress: the name's answer from snet-runners, and the path's verdict."""
    found = reach(preset(name), RUNNERS_SUBNET, host, 443, source="10.20.0.4")
    assert found.resolution.address == address, found.resolution
    if address is None:
        assert found.verdict is None and why in found.resolution.source
        return
    assert found.verdict is not None
    assert (found.verdict.ok, why in found.verdict.reason) == (connects, True), found.verdict


def test_a_private_link_name_is_a_cname_to_its_privatelink_name() -> None:
    """Rule arm.vm-dns: acrprod.azurecr.io -> acrprod.privatelink.azurecr.io, answered by the linked zone."""
    answer = resolve(preset("healthy"), _vnet(), ACR_FQDN)
    assert answer.cname == "acrprod.privatelink.azurecr.io" and answer.scope == "private"
    assert "private DNS zone privatelink.azurecr.io" in answer.source


def test_a_linked_zone_without_the_record_is_nxdomain() -> None:
    """Rule arm.vm-dns: the zone is authoritative: no public fallback for a record it lacks."""
    answer = resolve(preset("healthy"), _vnet(), "acrother.privatelink.azurecr.io")
    assert answer.address is None and "has no A record acrother" in answer.source


def test_a_registry_that_does_not_exist_resolves_nowhere() -> None:
    """Rule arm.vm-dns: public DNS has no name for a registry nobody made."""
    answer = resolve(preset("healthy"), _vnet(), "nosuchacr.azurecr.io")
    assert answer.address is None and "no such registry" in answer.source


def test_internet_names_resolve_alike_everywhere() -> None:
    """Rule arm.vm-dns: a public name gets the same public answer with Azure DNS and custom DNS."""
    healthy, custom = (
        resolve(preset("healthy"), _vnet(), "gitlab.com"),
        resolve(preset("custom-dns"), _vnet(), "gitlab.com"),
    )
    assert healthy.address == custom.address and healthy.scope == "public"


def test_a_nat_gateway_without_a_public_ip_gives_no_way_out() -> None:
    """Rule arm.vm-egress: a NAT gateway needs a public IP address or prefix to carry anything."""
    topology = _with_subnet(
        healthy_topology(), lambda s: replace(s, nat_gateway_id=nat_gateway_id("rg-runners", "ng-empty"))
    )
    topology = _add(topology, nat_gateways=(NatGatewaySpec("rg-runners", "ng-empty"),))
    verdict = connect(store_of(topology), RUNNERS_SUBNET, "140.82.121.4", 443)
    assert not verdict.ok and "NAT gateway ng-empty has no public IP address or prefix" in verdict.reason


def test_a_user_route_beats_the_nat_gateway_and_the_longest_prefix_wins() -> None:
    """Rule arm.vm-routes: a UDR takes precedence over the NAT gateway for what it matches; a /32
    beats 0.0.0.0/0; a route with next hop None drops."""
    table = RouteTableSpec(
        "rg-runners",
        "rt-test",
        (
            RouteSpec("blackhole", "140.82.0.0/16", "None"),
            RouteSpec("one-host", "140.82.121.4/32", "Internet"),
            RouteSpec("to-gateway", "198.51.100.0/24", "VirtualNetworkGateway"),
        ),
    )
    topology = _add(healthy_topology(), route_tables=(table,))
    table_id = ROUTE_TABLE_ID.replace("rt-runners", "rt-test")
    # No NSG: the VirtualNetwork tag would hold the user routes' prefixes (see the next test).
    store = store_of(_with_subnet(topology, lambda s: replace(s, route_table_id=table_id, nsg_id=None)))
    assert connect(store, RUNNERS_SUBNET, "140.82.121.4", 443).reason == NAT
    dropped = connect(store, RUNNERS_SUBNET, "140.82.121.5", 443)
    assert (
        not dropped.ok
        and "route table rt-test route blackhole (140.82.0.0/16 -> None) drops it" in dropped.reason
    )
    gateway = connect(store, RUNNERS_SUBNET, "198.51.100.7", 443)
    assert not gateway.ok and "virtual network gateway" in gateway.reason
    assert connect(store, RUNNERS_SUBNET, "20.1.2.3", 443).reason == NAT  # still the system route


def test_the_virtualnetwork_tag_holds_a_user_default_route() -> None:
    """Rule arm.vm-routes: with 0.0.0.0/0 routed to a firewall, a deny to VirtualNetwork denies the
    Internet too (the tag holds UDR prefixes); infra/ denies the private ranges instead."""
    store = preset("firewall-egress")
    assert connect(store, RUNNERS_SUBNET, public_address_for("github.com"), 443, name="github.com").ok
    broken = scenario("firewall-egress").topology
    first, *rest = broken.subscriptions
    nsgs = tuple(replace(n, rules=healthy_nsg_rules()) if n.name == "nsg-runners" else n for n in first.nsgs)
    store = store_of(replace(broken, subscriptions=(replace(first, nsgs=nsgs), *rest)))
    verdict = connect(store, RUNNERS_SUBNET, public_address_for("github.com"), 443, name="github.com")
    assert not verdict.ok
    assert verdict.reason.startswith("NSG nsg-runners rule deny-vnet-outbound denies outbound TCP 443")
    assert "(the VirtualNetwork tag holds the user route prefix 0.0.0.0/0)" in verdict.reason


def healthy_nsg_rules() -> tuple[NsgRuleSpec, ...]:
    [sub] = healthy_topology().subscriptions
    return next(n.rules for n in sub.nsgs if n.name == "nsg-runners")


# --- Azure Firewall rule processing -------------------------------------------------------------


def _policy_world(
    *groups: RuleCollectionGroupSpec, base: tuple[RuleCollectionGroupSpec, ...] = (), proxy: bool = False
) -> ResourceStore:
    """firewall-egress's network with afw-hub on a policy made of `groups` (and a base policy)."""
    topology = scenario("firewall-egress").topology
    first, *rest = topology.subscriptions
    policies = [FirewallPolicySpec("rg-hub", "afwp-test", groups, dns_proxy=proxy)]
    if base:
        policies = [
            FirewallPolicySpec("rg-hub", "afwp-base", base),
            FirewallPolicySpec(
                "rg-hub",
                "afwp-test",
                groups,
                base_policy_id=firewall_policy_id("rg-hub", "afwp-base"),
                dns_proxy=proxy,
            ),
        ]
    firewall = AzureFirewallSpec(
        "rg-hub",
        "afw-hub",
        FIREWALL_SUBNET,
        "10.40.0.4",
        firewall_policy_id=firewall_policy_id("rg-hub", "afwp-test"),
    )
    changed = replace(first, firewall_policies=tuple(policies), firewalls=(firewall,))
    return store_of(replace(topology, subscriptions=(changed, *rest)))


def _verdict(store: ResourceStore, name: str | None = "github.com", destination: str | None = None) -> str:
    firewall = firewall_at(store, "10.40.0.4")
    assert firewall is not None
    flow = Flow("10.20.0.4", destination or public_address_for(name or "x"), 443, name)
    found = evaluate(store, firewall, flow)
    return ("allow: " if found.allowed else "deny: ") + found.reason


def _app(name: str, *fqdns: str) -> ApplicationRuleSpec:
    return ApplicationRuleSpec(name, fqdns, source_addresses=("10.20.0.0/16",))


def _group(name: str, priority: int, *collections: RuleCollectionSpec) -> RuleCollectionGroupSpec:
    return RuleCollectionGroupSpec(name, priority, collections)


def test_network_rules_come_before_application_rules() -> None:
    """Rule arm.firewall-rules: a network deny in a later group still beats an application allow."""
    store = _policy_world(
        _group("apps", 100, RuleCollectionSpec("allow-github", 100, "Allow", (_app("gh", "github.com"),))),
        _group(
            "nets",
            500,
            RuleCollectionSpec(
                "deny-all-tcp", 100, "Deny", (NetworkRuleSpec("all", destination_addresses=("*",)),)
            ),
        ),
    )
    assert _verdict(store).startswith(
        "deny: Azure Firewall afw-hub: denied by policy afwp-test, rule collection group nets"
    )


def test_group_then_collection_priority_decides_within_a_kind() -> None:
    """Rule arm.firewall-rules: the group with the lower priority number wins, then the collection."""
    store = _policy_world(
        _group("late", 300, RuleCollectionSpec("allow", 100, "Allow", (_app("gh", "github.com"),))),
        _group(
            "early",
            200,
            RuleCollectionSpec("allow-later", 300, "Allow", (_app("any", "*"),)),
            RuleCollectionSpec("deny-first", 200, "Deny", (_app("gh", "*.github.com", "github.com"),)),
        ),
    )
    assert "rule collection group early, rule collection deny-first" in _verdict(store)
    assert _verdict(store).startswith("deny:")


def test_a_base_policys_rules_come_first() -> None:
    """Rule arm.firewall-rules: a parent policy's rules come before the child's, whatever the priorities."""
    store = _policy_world(
        _group("child", 100, RuleCollectionSpec("allow", 100, "Allow", (_app("gh", "github.com"),))),
        base=(
            _group("parent", 60000, RuleCollectionSpec("deny", 65000, "Deny", (_app("gh", "github.com"),))),
        ),
    )
    assert _verdict(store).startswith("deny: Azure Firewall afw-hub: denied by policy afwp-base")


def test_wildcards_match_names_under_the_domain_only() -> None:
    """Rule arm.firewall-rules: *.x matches a.x and a.b.x, not x itself; no match is default deny."""
    store = _policy_world(
        _group("g", 100, RuleCollectionSpec("c", 100, "Allow", (_app("w", "*.github.com"),)))
    )
    assert _verdict(store, "api.github.com").startswith("allow:")
    assert _verdict(store, "a.b.github.com").startswith("allow:")
    assert (
        _verdict(store, "github.com") == "deny: Azure Firewall afw-hub: no rule allows TCP 443 to github.com"
    )


def test_application_rules_need_a_server_name() -> None:
    """Rule arm.firewall-rules: a TLS flow without SNI (a bare address) matches no application rule."""
    store = _policy_world(_group("g", 100, RuleCollectionSpec("c", 100, "Allow", (_app("any", "*"),))))
    assert _verdict(store, None, "140.82.121.4").startswith("deny:")


def test_network_rule_fqdns_need_dns_proxy() -> None:
    """Rule arm.firewall-rules: destinationFqdns in a network rule works only with DNS proxy on."""
    rule = NetworkRuleSpec("gh", source_addresses=("10.20.0.0/16",), destination_fqdns=("github.com",))
    group = _group("g", 100, RuleCollectionSpec("c", 100, "Allow", (rule,)))
    without = _verdict(_policy_world(group))
    assert (
        without.startswith("deny:")
        and "network rule gh names it by FQDN, which needs DNS proxy on" in without
    )
    assert _verdict(_policy_world(group, proxy=True)).startswith("allow:")


def test_a_source_outside_the_rule_does_not_match() -> None:
    """Rule arm.firewall-rules: the rule's source addresses must hold the VM's address."""
    app = ApplicationRuleSpec("gh", ("github.com",), source_addresses=("10.99.0.0/16",))
    store = _policy_world(_group("g", 100, RuleCollectionSpec("c", 100, "Allow", (app,))))
    assert _verdict(store).startswith("deny:")


# --- presets and topology checks ----------------------------------------------------------------


def test_the_firewall_preset_allows_exactly_githubs_runner_hosts() -> None:
    """firewall-egress's GitHub rule is the list runner_fleet.preflight.forge_hosts keeps."""
    assert tuple(h.name for h in GITHUB_HOSTS) == GITHUB_FQDNS


def test_the_new_presets_are_listed_with_one_line_summaries() -> None:
    """`doctor --simulate list` shows every egress and private-endpoint preset, each in one line."""
    wanted = {
        "no-egress",
        "default-outbound",
        "firewall-blocks-forge",
        "firewall-egress",
        "appliance-egress",
        "acr-zone-unlinked",
        "keyvault-zone-unlinked",
        "endpoint-pending",
    }
    assert wanted <= set(scenario_names())
    assert all("\n" not in s.summary and s.summary for s in scenarios())


def test_a_nat_gateway_cannot_span_virtual_networks() -> None:
    """Seeding refuses a topology Azure would refuse: one NAT gateway on subnets of two VNets."""
    [sub] = healthy_topology().subscriptions
    ops = next(v for v in sub.vnets if v.name == "vnet-ops")
    subnets = tuple(
        replace(s, nat_gateway_id=nat_gateway_id("rg-runners", "ng-runners")) for s in ops.subnets
    )
    vnets = tuple(replace(v, subnets=subnets) if v.name == "vnet-ops" else v for v in sub.vnets)
    with pytest.raises(ValueError, match="cannot span virtual networks"):
        store_of(Topology(subscriptions=(replace(sub, vnets=vnets),)))


def _vnet() -> ResourceId:
    return ResourceId.parse(RUNNERS_VNET)


def _with_subnet(topology: Topology, change: Callable[[SubnetSpec], SubnetSpec]) -> Topology:
    first, *rest = topology.subscriptions

    def vnet(v: VNetSpec) -> VNetSpec:
        return replace(v, subnets=tuple(change(s) if s.name == "snet-runners" else s for s in v.subnets))

    return replace(topology, subscriptions=(replace(first, vnets=tuple(vnet(v) for v in first.vnets)), *rest))


def _add(topology: Topology, **items: tuple[Any, ...]) -> Topology:
    first, *rest = topology.subscriptions
    changes: dict[str, Any] = {k: (*getattr(first, k), *v) for k, v in items.items()}
    changed: SubscriptionSpec = replace(first, **changes)
    return replace(topology, subscriptions=(changed, *rest))
