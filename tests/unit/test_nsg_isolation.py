"""`nsg-isolation` over in-memory topologies: runner VMs may reach only the API servers of their
subnet's pools (TCP 443) and accept nothing from the VNet; rules are applied as Azure applies them."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from runner_fleet.ports.preflight import CheckResult, PreflightReport
from runner_fleet.preflight.checks import run_checks
from runner_fleet.preflight.checks.isolation import check_isolation
from runner_fleet.preflight.checks.nsg_flows import (
    ALL_PORTS,
    ALL_PROTOCOLS,
    Box,
    Flows,
    Network,
    Ranges,
    decide,
    span_of,
    spans_of,
)
from runner_fleet.preflight.discovery import discover
from runner_fleet.preflight.topology import Lookup, NsgRule
from tests.builders import DEFAULT_SETTINGS, make_pool
from tests.unit.preflight_world import (
    AKS_NET,
    ISOLATED,
    NSG,
    RUNNER_VNET,
    SUBNET,
    ZONE,
    cluster_pool,
    healthy,
    healthy_reader,
    https_out,
    nsg,
    rule,
    runner_vnet,
    zone,
)

DENY_VNET_OUT = rule("deny-vnet-outbound", 4000, "Outbound", "Deny", destinations=("VirtualNetwork",))
KUBELETS = rule(
    "allow-kubelets",
    200,
    "Outbound",
    "Allow",
    protocol="Tcp",
    destinations=("10.10.0.0/22",),
    destination_ports=("10250", "30000-32767"),
)


def isolation(*rules: NsgRule, **changes: Any) -> CheckResult:
    result = check_isolation(healthy(nsg=Lookup(NSG, nsg(*rules)), **changes))
    assert result is not None
    return result


def test_azures_default_rules_open_the_whole_vnet_both_ways_and_warn() -> None:
    """Only the default rules: AllowVnetOutBound and AllowVnetInBound are named, with one-line fixes."""
    result = isolation()
    assert result.status == "warn" and result.resource == NSG
    assert result.message == (
        "nsg-runners: rule 'AllowVnetOutBound' (priority 65000) lets runner VMs reach 10.10.0.0/16, "
        "10.20.0.0/16 except 10.10.0.4 with any protocol on any port; rule 'AllowVnetInBound' "
        "(priority 65000) admits connections to runner VMs from 10.10.0.0/16, 10.20.0.0/16 with any "
        "protocol on any port"
    )
    assert result.fix == (
        "add an outbound rule denying VirtualNetwork at a priority below 65000, after one allowing TCP 443 "
        "to 10.10.0.4; add an inbound rule denying VirtualNetwork at a priority below 65000"
    )


def test_a_warning_does_not_stop_the_pool() -> None:
    """nsg-isolation warns, never fails: the provisioning gate still lets the pool's jobs through."""
    topology = healthy(nsg=Lookup(NSG, nsg()))
    report = PreflightReport("aks-prod", run_checks(cluster_pool(), topology))
    assert report.ok and [c.status for c in report.checks if c.name == "nsg-isolation"] == ["warn"]


def test_the_rules_infra_deploys_pass() -> None:
    """TCP 443 to the API server, then VirtualNetwork denied both ways, the load balancer's probes kept."""
    result = isolation(*ISOLATED)
    assert result.status == "pass" and result.fix == ""
    assert result.message == (
        "nsg-runners lets runner VMs reach nothing in the VNet but 10.10.0.4, and admits no connection "
        "from it"
    )


def test_an_allow_above_the_vnet_deny_is_named_with_its_ports() -> None:
    """A custom allow for kubelets and NodePorts decides before the deny: named, with a narrowing fix."""
    result = isolation(KUBELETS, *ISOLATED)
    assert result.status == "warn"
    assert result.message == (
        "nsg-runners: rule 'allow-kubelets' (priority 200) lets runner VMs reach 10.10.0.0/22 except "
        "10.10.0.4 with TCP on ports 10250, 30000-32767"
    )
    assert result.fix == "narrow outbound rule 'allow-kubelets' to TCP 443 to 10.10.0.4, or delete it"


def test_an_allow_after_the_vnet_deny_never_decides() -> None:
    """First match wins: the same allow at a priority after deny-vnet-outbound changes nothing."""
    late = replace(KUBELETS, priority=4090)
    assert isolation(late, *ISOLATED).status == "pass"


def test_the_api_server_address_is_needed_whole_but_not_its_neighbours() -> None:
    """Any port to the API server's own address passes (its endpoint serves only 443); its /24 warns."""
    exact = rule("allow-aks-any", 100, "Outbound", "Allow", destinations=("10.10.0.4",))
    around = rule("allow-aks-range", 100, "Outbound", "Allow", destinations=("10.10.0.0/24",))
    assert isolation(exact, *ISOLATED[1:]).status == "pass"
    result = isolation(around, *ISOLATED[1:])
    assert result.status == "warn"
    assert (
        "rule 'allow-aks-range' (priority 100) lets runner VMs reach 10.10.0.0/24 except 10.10.0.4"
        in result.message
    )


def test_inbound_from_the_runner_subnet_itself_is_reported() -> None:
    """Runners must not accept connections from each other: an allow from the subnet's own prefix warns."""
    peers = rule("allow-runner-peers", 300, "Inbound", "Allow", sources=("10.20.0.0/24",))
    result = isolation(peers, *ISOLATED)
    assert result.status == "warn"
    assert "rule 'allow-runner-peers' (priority 300) admits connections to runner VMs from 10.20.0.0/24" in (
        result.message
    )
    assert result.fix == "delete inbound rule 'allow-runner-peers' (runner VMs serve nothing)"


def test_internet_and_load_balancer_sources_are_not_vnet_peers() -> None:
    """Allows from Internet or AzureLoadBalancer are nsg-inbound's business, not a VNet exposure."""
    internet = rule(
        "allow-ssh-internet", 100, "Inbound", "Allow", sources=("Internet",), destination_ports=("22",)
    )
    assert isolation(internet, *ISOLATED).status == "pass"


def test_every_pool_sharing_the_subnet_may_reach_its_own_api_server() -> None:
    """Two pools, two clusters, one subnet: HTTPS to both API servers is needed, not a finding."""
    both = https_out("allow-api-servers", 100, "Allow", "10.10.0.4", "10.10.4.4")
    shared = isolation(both, *ISOLATED[1:], subnet_api_addresses=("10.10.0.4", "10.10.4.4"))
    alone = isolation(both, *ISOLATED[1:], subnet_api_addresses=("10.10.0.4",))
    assert shared.status == "pass" and "nothing in the VNet but 10.10.0.4, 10.10.4.4," in shared.message
    assert alone.status == "warn" and "reach 10.10.4.4 with TCP on port 443" in alone.message


def test_an_unknown_api_server_address_leaves_only_https_unjudged() -> None:
    """A sharing pool's API server address is unknown: TCP 443 in the VNet passes, SSH does not."""
    https = https_out("allow-https-vnet", 100, "Allow", "VirtualNetwork")
    ssh = rule(
        "allow-ssh-vnet",
        110,
        "Outbound",
        "Allow",
        destinations=("VirtualNetwork",),
        destination_ports=("22",),
    )
    assert isolation(https, *ISOLATED[1:], subnet_unresolved=("other",)).status == "pass"
    result = isolation(https, ssh, *ISOLATED[1:], subnet_unresolved=("other",))
    assert result.status == "warn" and "rule 'allow-ssh-vnet'" in result.message


def test_a_deny_limited_to_some_source_ports_leaves_the_others_open() -> None:
    """Rules match on the whole five-tuple: a deny for source ports 1024-65535 lets 0-1023 through."""
    partial = replace(DENY_VNET_OUT, source_ports=("1024-65535",))
    result = isolation(ISOLATED[0], partial, *ISOLATED[1:4])
    assert result.status == "warn" and "rule 'AllowVnetOutBound'" in result.message


def test_application_security_groups_count_against_the_vnet() -> None:
    """ASG membership is unknown: a deny naming one closes nothing, an allow naming one may open the VNet."""
    asg = f"{AKS_NET}/applicationSecurityGroups/asg-nodes"
    deny = NsgRule("deny-nodes", 100, "Outbound", "Deny", "*", ("*",), (), ("*",), destination_asgs=(asg,))
    allow = NsgRule("allow-nodes", 200, "Outbound", "Allow", "*", ("*",), (), ("*",), destination_asgs=(asg,))
    assert "rule 'AllowVnetOutBound'" in isolation(deny).message
    assert "rule 'allow-nodes' (priority 200)" in isolation(allow, *ISOLATED).message


def test_custom_dns_servers_inside_the_vnet_may_be_asked() -> None:
    """With custom DNS servers in the VNet, DNS (53) to them is needed, not a finding."""
    dns = rule(
        "allow-dns", 200, "Outbound", "Allow", destinations=("10.20.255.4",), destination_ports=("53",)
    )
    vnet = Lookup(RUNNER_VNET, runner_vnet(dns_servers=("10.20.255.4",)))
    assert isolation(dns, *ISOLATED, runner_vnet=vnet).status == "pass"
    assert isolation(dns, *ISOLATED).status == "warn"


def test_a_subnet_without_an_nsg_warns_on_the_subnet() -> None:
    """No NSG at all filters nothing: warn on the subnet and say what to associate."""
    result = check_isolation(healthy(nsg=None))
    assert result is not None and result.status == "warn" and result.resource == SUBNET
    assert result.fix == (
        "associate an NSG with snet-runners that denies VirtualNetwork both ways and allows outbound TCP 443 "
        "to 10.10.0.4 first"
    )


def test_the_first_rule_matching_a_flow_decides_it() -> None:
    """decide(): rules by priority, each deciding only flows no earlier rule matched."""
    vnet = Network(spans_of(["10.0.0.0/16"]))
    start = Flows((Box(span_of("10.0.1.0/24"), ALL_PORTS, span_of("10.0.0.0/16"), ALL_PORTS, ALL_PROTOCOLS),))
    deny = rule("deny-22", 200, "Outbound", "Deny", destination_ports=("22",))
    allow = rule("allow-all", 100, "Outbound", "Allow", destinations=("10.0.9.9",))
    decisions = decide(
        [deny, allow, *[r for r in nsg().rules if r.direction == "Outbound"]], "Outbound", start, vnet
    )
    assert [d.rule.name for d in decisions] == ["allow-all", "deny-22", "AllowVnetOutBound"]
    assert decisions[1].flows.union(2) == span_of("10.0.0.0/16") - span_of("10.0.9.9")
    assert decisions[1].flows.union(3) == Ranges(((22, 22),))


async def test_discovery_collects_the_api_servers_of_every_pool_in_the_subnet() -> None:
    """Sharing pools' API servers are looked up once per cluster; one whose record is missing is named."""
    other_zone = f"{AKS_NET}/privateDnsZones/privatelink.northeurope.azmk8s.io"
    reader = healthy_reader()
    reader.zones[other_zone.lower()] = zone(zone_id=other_zone)
    reader.records[f"{other_zone}/A/aks-other".lower()] = ("10.10.4.4",)
    other = {"api_server_fqdn": "aks-other.privatelink.northeurope.azmk8s.io", "dns_zone_id": other_zone}
    missing = {"api_server_fqdn": "aks-gone.privatelink.westeurope.azmk8s.io", "dns_zone_id": ZONE}
    pools = (
        cluster_pool(),
        cluster_pool("aks-twin"),
        cluster_pool("aks-other", cluster=other),
        cluster_pool("aks-gone", cluster=missing),
        make_pool("no-cluster"),
    )
    topology = await discover(pools[4], reader, pools=pools, settings=DEFAULT_SETTINGS)
    assert topology.subnet_api_addresses == ("10.10.0.4", "10.10.4.4")
    assert topology.subnet_unresolved == ("aks-gone",)
