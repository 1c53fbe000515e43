"""`egress` over in-memory topologies: a runner subnet's way out to its forge's hosts on TCP 443,
through a NAT gateway, an Azure Firewall whose rules are applied as Azure applies them, or nothing."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from runner_fleet.ports.preflight import CheckResult
from runner_fleet.preflight.checks.egress import check_egress
from runner_fleet.preflight.forge_hosts import ForgeHost
from runner_fleet.preflight.topology import (
    FirewallFacts,
    FirewallRule,
    Lookup,
    PoolTopology,
    RouteFacts,
    RouteTableFacts,
)
from tests.unit.preflight_world import (
    ISOLATED,
    NAT,
    NET,
    NSG,
    SUB,
    SUBNET,
    healthy,
    nat_gateway,
    nsg,
    rule,
    subnet_facts,
)

RT = f"{NET}/routeTables/rt-runners"
HUB = f"/subscriptions/{SUB}/resourceGroups/rg-hub/providers/Microsoft.Network"
FW = f"{HUB}/azureFirewalls/fw-hub"
POLICY = f"{HUB}/firewallPolicies/fwpol-runners"
IP_GROUP = f"{HUB}/ipGroups/ipg-runners"
FIREWALL_IP = "10.0.1.4"
SOURCE = "10.20.0.0/24"
# Every GitHub host a runner needs, as a platform team would allow them.
GITHUB_FQDNS = (
    "github.com",
    "*.github.com",
    "*.actions.githubusercontent.com",
    "*.blob.core.windows.net",
    "objects.githubusercontent.com",
)


def egress(topology: PoolTopology) -> CheckResult:
    result = check_egress(topology)
    assert result is not None
    return result


def app_rule(name: str, *fqdns: str, **changes: Any) -> FirewallRule:
    base = FirewallRule(
        "application",
        name,
        "Allow",
        "allow-forge",
        200,
        group="runners",
        group_priority=300,
        sources=(SOURCE,),
        app_protocols=(("Https", 443),),
        target_fqdns=fqdns,
    )
    return replace(base, **changes)


def net_rule(name: str, *destinations: str, **changes: Any) -> FirewallRule:
    base = FirewallRule(
        "network",
        name,
        "Allow",
        "network",
        200,
        group="runners",
        group_priority=300,
        sources=(SOURCE,),
        ip_protocols=("TCP",),
        destination_addresses=destinations,
        destination_ports=("443",),
    )
    return replace(base, **changes)


def routes(*found: RouteFacts) -> Lookup[RouteTableFacts]:
    return Lookup(RT, RouteTableFacts(RT, "rt-runners", found or (to_firewall(),), True))


def to_firewall(prefix: str = "0.0.0.0/0") -> RouteFacts:
    return RouteFacts("default-to-firewall", prefix, "VirtualAppliance", FIREWALL_IP)


# infra/'s NSG for a subnet routed to a firewall: the VNet named by the private ranges it is in, since
# VirtualNetwork would hold the routed 0.0.0.0/0 too.
DENY_PRIVATE = rule(
    "deny-private-outbound",
    4000,
    "Outbound",
    "Deny",
    destinations=("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10"),
)
FIREWALL_NSG = nsg(*(r for r in ISOLATED if r.name != "deny-vnet-outbound"), DENY_PRIVATE)


def routed(table: Lookup[RouteTableFacts], **changes: Any) -> PoolTopology:
    """The runner subnet with `table` and no NAT gateway, as infra/ makes it for a firewall."""
    subnet = subnet_facts(nat_gateway_id=None, route_table_id=RT)
    changes = {"nsg": Lookup(NSG, FIREWALL_NSG)} | changes
    return healthy(subnet=Lookup(SUBNET, subnet), nat_gateway=None, route_table=table, **changes)


def firewall(*rules: FirewallRule, **changes: Any) -> PoolTopology:
    facts = FirewallFacts(FW, "fw-hub", (FIREWALL_IP,), POLICY, rules=rules, policies=(POLICY,), **changes)
    return routed(routes(), firewall=Lookup(FW, facts))


def allowing_github(**changes: Any) -> FirewallRule:
    return app_rule("github", *GITHUB_FQDNS, **changes)


# --- NAT gateway, default outbound access, no way out ---------------------------------------------


def test_a_nat_gateway_with_a_public_ip_passes() -> None:
    """The healthy subnet goes out through its NAT gateway: pass, naming it."""
    result = egress(healthy())
    assert (result.status, result.resource) == ("pass", NAT)
    assert result.message == (
        "snet-runners goes out to github.com, api.github.com and 5 more through NAT gateway ng-runners "
        "(1 public IP)"
    )


def test_a_nat_gateway_without_public_addresses_fails() -> None:
    """A NAT gateway with neither public IP nor prefix carries nothing; nothing else would."""
    result = egress(healthy(nat_gateway=Lookup(NAT, nat_gateway(public_ip_ids=()))))
    assert result.status == "fail" and "has no public IP address or prefix" in result.message
    assert "join no load balancer" in result.message and "never register" in result.message
    assert result.fix == "add a Standard public IP address (or prefix) to ng-runners"


@pytest.mark.parametrize(("state", "status"), [("Failed", "fail"), ("Updating", "warn")])
def test_a_nat_gateway_not_succeeded_is_reported(state: str, status: str) -> None:
    """A failed NAT gateway fails; one being updated warns."""
    result = egress(healthy(nat_gateway=Lookup(NAT, nat_gateway(provisioning_state=state))))
    assert (result.status, result.message) == (status, f"NAT gateway ng-runners of snet-runners is {state}")


def test_a_nat_gateway_that_cannot_be_read_names_the_role() -> None:
    """A 403 on the NAT gateway: fail with the role to grant, as for every unreadable resource."""
    result = egress(healthy(nat_gateway=Lookup(NAT, error="403 AuthorizationFailed reading ng-runners")))
    assert result.status == "fail" and "cannot read NAT gateway ng-runners" in result.message


def test_a_private_subnet_without_nat_or_route_has_no_way_out() -> None:
    """defaultOutboundAccess false, no NAT gateway, no route: fail, fix attaches a NAT gateway."""
    topology = healthy(subnet=Lookup(SUBNET, subnet_facts(nat_gateway_id=None)), nat_gateway=None)
    result = egress(topology)
    assert (result.status, result.resource) == ("fail", SUBNET)
    assert "snet-runners has no way out to github.com, api.github.com and 5 more" in result.message
    assert "no public IP and join no load balancer" in result.message
    assert result.fix.startswith("attach a NAT gateway with a public IP to snet-runners")


@pytest.mark.parametrize("access", [None, True])
def test_implicit_default_outbound_access_warns(access: bool | None) -> None:
    """No NAT gateway and default outbound access on (or absent, as for older subnets): warn."""
    subnet = subnet_facts(nat_gateway_id=None, default_outbound_access=access)
    result = egress(healthy(subnet=Lookup(SUBNET, subnet), nat_gateway=None))
    assert result.status == "warn" and "implicit default outbound access" in result.message
    assert result.fix.endswith("then set defaultOutboundAccess to false")


def test_a_route_table_that_cannot_be_read_names_the_role() -> None:
    """A 403 on the route table fails with the role to grant."""
    result = egress(routed(Lookup(RT, error="403 AuthorizationFailed reading rt-runners")))
    assert result.status == "fail" and "cannot read route table rt-runners" in result.message
    assert "Reader on rt-runners" in result.fix


# --- routes -------------------------------------------------------------------------------------


@pytest.mark.parametrize("hop", ["None", "VnetLocal"])
def test_a_default_route_that_drops_fails(hop: str) -> None:
    """0.0.0.0/0 to None (or kept in the VNet): dropped, runners never register."""
    result = egress(routed(routes(RouteFacts("blackhole", "0.0.0.0/0", hop))))
    assert result.status == "fail" and result.resource == RT
    assert "route 'blackhole' (0.0.0.0/0) sends Internet traffic from snet-runners" in result.message
    assert "is dropped and runners never register" in result.message


def test_forced_tunnelling_warns() -> None:
    """0.0.0.0/0 to the virtual network gateway: what lets traffic out there cannot be read."""
    result = egress(routed(routes(RouteFacts("on-prem", "0.0.0.0/0", "VirtualNetworkGateway"))))
    assert result.status == "warn" and "forced tunnelling" in result.message
    assert "runner-fleet doctor --probe" in result.fix


def test_an_appliance_that_is_not_an_azure_firewall_warns() -> None:
    """No Azure Firewall has the next hop's address: its rules cannot be read; the probe can tell."""
    result = egress(routed(routes(), firewall=Lookup(FIREWALL_IP)))
    assert result.status == "warn"
    assert "cannot read the rules of the appliance at 10.0.1.4 (not an Azure Firewall)" in result.message
    assert "run `runner-fleet doctor --probe`" in result.fix


def test_firewalls_that_cannot_be_listed_warn_with_the_reason() -> None:
    """The firewalls of the subscription cannot be listed: say so, ask for Reader or the probe."""
    listing: Lookup[FirewallFacts] = Lookup(
        FIREWALL_IP, error="403 AuthorizationFailed reading Azure Firewalls"
    )
    result = egress(routed(routes(), firewall=listing))
    assert result.status == "warn" and "403 AuthorizationFailed" in result.message
    assert "doctor --probe" in result.fix


def test_longest_prefix_wins_and_more_specific_public_routes_are_a_caveat() -> None:
    """Two /1 routes to the firewall replace 0.0.0.0/0 (a NAT gateway is then unused); a /24 to None
    beside a NAT gateway is named as a caveat, not a failure."""
    halves = routes(
        RouteFacts("low-half", "0.0.0.0/1", "VirtualAppliance", FIREWALL_IP),
        RouteFacts("high-half", "128.0.0.0/1", "VirtualAppliance", FIREWALL_IP),
    )
    facts = FirewallFacts(
        FW, "fw-hub", (FIREWALL_IP,), POLICY, rules=(allowing_github(),), policies=(POLICY,)
    )
    assert egress(routed(halves, firewall=Lookup(FW, facts))).status == "pass"
    blackhole = routes(RouteFacts("drop-range", "203.0.113.0/24", "None"))
    subnet = subnet_facts(route_table_id=RT)
    topology = healthy(subnet=Lookup(SUBNET, subnet), route_table=blackhole, nsg=Lookup(NSG, FIREWALL_NSG))
    result = egress(topology)
    assert result.status == "warn" and result.resource == NAT
    assert "but route 'drop-range' (203.0.113.0/24) sends 203.0.113.0/24 to None (dropped)" in result.message


# --- the firewall's rules -----------------------------------------------------------------------


def test_a_firewall_allowing_every_host_passes() -> None:
    """An application rule for every GitHub host, from the runner subnet, on Https:443: pass."""
    result = egress(firewall(allowing_github()))
    assert (result.status, result.resource) == ("pass", POLICY)
    assert result.message == (
        "Internet traffic from snet-runners goes to firewall fw-hub (policy fwpol-runners), which allows "
        "TCP 443 to github.com, api.github.com and 5 more"
    )


def test_a_firewall_without_rules_denies_by_default() -> None:
    """No rule matches: denied; fail naming the hosts, fix names the rule to add."""
    result = egress(firewall())
    assert result.status == "fail" and result.resource == POLICY
    assert result.message.startswith(
        "firewall fw-hub (policy fwpol-runners) denies TCP 443 from 10.20.0.0/24 to github.com, "
        "api.github.com, *.actions.githubusercontent.com"
    )
    assert "(no rule allows)" in result.message and result.message.endswith("runners never register")
    assert result.fix == (
        "add an application rule to policy fwpol-runners: source 10.20.0.0/24, Https:443, target FQDNs "
        "github.com, api.github.com, *.actions.githubusercontent.com, codeload.github.com, "
        "results-receiver.actions.githubusercontent.com, *.blob.core.windows.net, "
        "objects.githubusercontent.com"
    )


def test_a_deny_collection_before_the_allow_one_wins() -> None:
    """Collection priority 100 denies github.com before priority 200 allows it: fail naming the rule."""
    deny = app_rule("no-github", "github.com", action="Deny", collection="blocked", collection_priority=100)
    result = egress(firewall(allowing_github(), deny))
    assert result.status == "fail"
    assert "github.com (denied by rule 'no-github' in collection 'blocked')" in result.message
    assert result.fix.endswith(
        "target FQDNs github.com, in a collection processed before 'blocked' (priority 100), "
        "or narrow rule 'no-github'"
    )


def test_an_allow_collection_before_the_deny_one_wins() -> None:
    """The same two collections the other way round: the allow decides first."""
    deny = app_rule("no-github", "github.com", action="Deny", collection="blocked", collection_priority=300)
    assert egress(firewall(allowing_github(collection_priority=100), deny)).status == "pass"


def test_group_priority_comes_before_collection_priority() -> None:
    """A deny in group 200 (collection 900) comes before an allow in group 300 (collection 100)."""
    deny = app_rule(
        "no-github",
        "github.com",
        action="Deny",
        collection="blocked",
        collection_priority=900,
        group_priority=200,
    )
    result = egress(firewall(allowing_github(collection_priority=100), deny))
    assert result.status == "fail" and "'no-github'" in result.message


def test_a_parent_policys_rules_come_before_the_childs() -> None:
    """A deny inherited from the base policy (group priority 500) beats the child's allow (100)."""
    inherited = app_rule(
        "no-github", "github.com", action="Deny", collection="central", group_priority=500, level=1
    )
    result = egress(firewall(allowing_github(group_priority=100), inherited))
    assert result.status == "fail"
    assert "denied by rule 'no-github' in collection 'central' of the base policy" in result.message


def test_network_rules_come_before_application_rules() -> None:
    """A network rule denying TCP 443 anywhere decides before any application rule, whatever its
    priority."""
    deny = net_rule("no-https", "*", action="Deny", collection="deny-all", collection_priority=4000)
    result = egress(firewall(allowing_github(collection_priority=100), deny))
    assert result.status == "fail" and "denied by rule 'no-https'" in result.message


def test_a_network_rule_allowing_443_anywhere_lets_everything_through() -> None:
    """TCP 443 to `*` from the subnet: every host allowed at layer 4."""
    assert egress(firewall(net_rule("https-out", "*"))).status == "pass"


def test_a_network_rule_to_a_public_prefix_cannot_be_told() -> None:
    """An IP prefix might hold a host's addresses or not: cannot tell, warn with the probe."""
    result = egress(firewall(net_rule("github-ranges", "140.82.112.0/20")))
    assert result.status == "warn" and "names the public prefix 140.82.112.0/20" in result.message
    assert "doctor --probe" in result.fix


def test_a_wildcard_need_is_covered_only_by_a_wildcard() -> None:
    """'*.github.com' does not cover github.com itself; one host under *.actions.githubusercontent.com
    does not cover the wildcard."""
    apex_missing = app_rule("github", *(f for f in GITHUB_FQDNS if f != "github.com"))
    result = egress(firewall(apex_missing))
    assert result.status == "fail" and "to github.com (no rule allows)" in result.message
    some = tuple(f for f in GITHUB_FQDNS if f != "*.actions.githubusercontent.com")
    partial = app_rule(
        "github",
        *some,
        "broker.actions.githubusercontent.com",
        "results-receiver.actions.githubusercontent.com",
    )
    result = egress(firewall(partial))
    assert result.status == "warn"
    assert "covers only some hosts under *.actions.githubusercontent.com" in result.message


def test_ip_groups_are_resolved_for_sources() -> None:
    """A rule whose source is an IP group holding the runner subnet matches; one that could not be
    read cannot be told."""
    grouped = allowing_github(sources=(), source_ip_groups=(IP_GROUP,))
    readable = firewall(grouped, ip_groups=((IP_GROUP.lower(), ("10.20.0.0/16",)),))
    assert egress(readable).status == "pass"
    result = egress(firewall(grouped))
    assert result.status == "warn" and "names IP group ipg-runners, which could not be read" in result.message


def test_a_rule_for_part_of_the_subnet_cannot_be_told() -> None:
    """Sources covering half the runner subnet: some runners match, others not."""
    result = egress(firewall(allowing_github(sources=("10.20.0.0/25",))))
    assert result.status == "warn" and "covers only part of the runner subnet" in result.message


def test_source_ranges_are_understood() -> None:
    """A `first-last` source range holding the subnet matches."""
    assert egress(firewall(allowing_github(sources=("10.20.0.0-10.20.0.255",)))).status == "pass"


def test_classic_rule_collections_are_evaluated() -> None:
    """A firewall without a policy: its classic collections, by priority."""
    allow = allowing_github(group="", group_priority=0, collection_priority=200)
    deny = app_rule(
        "no-api",
        "api.github.com",
        action="Deny",
        collection="block",
        group="",
        group_priority=0,
        collection_priority=100,
    )
    classic = FirewallFacts(FW, "fw-hub", (FIREWALL_IP,), rules=(allow, deny))
    result = egress(routed(routes(), firewall=Lookup(FW, classic)))
    assert result.status == "fail" and result.resource == FW
    assert result.message.startswith("firewall fw-hub denies TCP 443 from 10.20.0.0/24 to api.github.com")
    assert result.fix.startswith("add an application rule to firewall fw-hub:")


def test_destination_fqdns_in_network_rules_need_the_dns_proxy() -> None:
    """A network rule naming the GitLab host by FQDN works only with DNS proxy on."""
    gitlab = (ForgeHost("gitlab.example.com", "essential", "runner registration, job requests and logs"),)
    by_name = net_rule("gitlab", destination_fqdns=("gitlab.example.com",))
    without = replace(firewall(by_name), forge_hosts=gitlab)
    assert egress(without).status == "fail"
    with_proxy = replace(firewall(by_name, dns_proxy=True), forge_hosts=gitlab)
    assert egress(with_proxy).status == "pass"


def test_web_categories_cannot_be_told() -> None:
    """An allow by web category may or may not cover a host."""
    result = egress(firewall(app_rule("it", web_categories=("InformationTechnology",))))
    assert result.status == "warn" and "names web categories (InformationTechnology)" in result.message


def test_only_the_runner_download_denied_warns() -> None:
    """Every host but the runner release download allowed: a prebaked image still works."""
    allow = app_rule("github", *(f for f in GITHUB_FQDNS if f != "objects.githubusercontent.com"))
    result = egress(firewall(allow))
    assert result.status == "warn"
    assert (
        "objects.githubusercontent.com (no rule allows): only a prebaked runner image works" in result.message
    )


def test_a_base_policy_that_cannot_be_read_is_a_warning_not_a_denial() -> None:
    """The base policy's rules come first: without them no denial is certain."""
    result = egress(firewall(unread=("policy fwpol-central: 403 AuthorizationFailed reading it",)))
    assert result.status == "warn" and "policy fwpol-central: 403 AuthorizationFailed" in result.message


def test_a_policy_that_cannot_be_read_warns() -> None:
    """The firewall's own policy unreadable: nothing to evaluate, say what and ask for Reader."""
    facts = FirewallFacts(
        FW, "fw-hub", (FIREWALL_IP,), POLICY, unread=("policy fwpol-runners: 403 Forbidden",)
    )
    result = egress(routed(routes(), firewall=Lookup(FW, facts)))
    assert (
        result.status == "warn" and "whose rules cannot be read: policy fwpol-runners: 403" in result.message
    )
    assert "Reader on fwpol-runners" in result.fix


# --- the NSG on the way out -----------------------------------------------------------------------


def test_a_vnet_deny_blocks_the_internet_once_0_0_0_0_is_routed() -> None:
    """With 0.0.0.0/0 routed, the VirtualNetwork tag holds the Internet: deny-vnet-outbound blocks it
    (infra/ denies the private ranges instead)."""
    assert egress(firewall(allowing_github())).status == "pass"
    topology = replace(firewall(allowing_github()), nsg=Lookup(NSG, nsg(*ISOLATED)))
    assert topology.route_table is not None
    result = egress(topology)
    assert result.status == "fail" and result.resource == NSG
    assert (
        "rule 'deny-vnet-outbound' (priority 4000) denies outbound TCP 443 to the Internet" in result.message
    )
    assert "VirtualNetwork holds the routes' prefixes" in result.message


def test_an_nsg_denying_the_internet_fails_egress() -> None:
    """A NAT gateway is no use when the NSG denies outbound TCP 443 to the Internet."""
    deny = rule("deny-internet", 3000, "Outbound", "Deny", destinations=("Internet",))
    result = egress(healthy(nsg=Lookup(NSG, nsg(*ISOLATED, deny))))
    assert result.status == "fail" and "'deny-internet' (priority 3000)" in result.message
    assert result.fix.startswith("allow outbound TCP 443 to Internet with a rule of priority below 3000")


def test_an_nsg_denying_some_public_ranges_warns() -> None:
    """A deny for one public range: a forge host could be there."""
    deny = rule("deny-range", 3000, "Outbound", "Deny", destinations=("198.51.100.0/24",))
    result = egress(healthy(nsg=Lookup(NSG, nsg(*ISOLATED, deny))))
    assert result.status == "warn" and "denies outbound TCP 443 to 198.51.100.0/24" in result.message
