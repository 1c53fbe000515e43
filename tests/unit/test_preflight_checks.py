"""The preflight checks over in-memory topologies: each passes when healthy, and fails (or warns)
with the resource and a fix when its one thing is wrong."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from runner_fleet.ports.preflight import CheckResult
from runner_fleet.preflight.checks import CHECK_NAMES, run_checks
from runner_fleet.preflight.topology import ApiServer, ImageFacts, Lookup, PoolTopology, SizeOffer, ZoneCheck
from tests.builders import make_pool
from tests.unit.preflight_world import (
    ACR_ZONE,
    CLUSTER_VNET,
    FQDN,
    NSG,
    RUNNER_VNET,
    SUBNET,
    ZONE,
    acr_pool,
    cluster_pool,
    cluster_vnet,
    healthy,
    https_out,
    link,
    nsg,
    peering,
    rule,
    runner_vnet,
    with_acr,
    zone,
)


def check(topology: PoolTopology, name: str, pool_overrides: dict[str, Any] | None = None) -> CheckResult:
    results = [r for r in run_checks(cluster_pool(**(pool_overrides or {})), topology) if r.name == name]
    assert len(results) == 1, results
    return results[0]


def with_zone_links(*links: object) -> PoolTopology:
    return healthy(zones=(ZoneCheck(Lookup(ZONE, zone(*links)), "api-server"),))  # type: ignore[arg-type]


def test_a_healthy_topology_passes_every_check_in_the_documented_order() -> None:
    """Every check passes on the healthy topology (a registry's private endpoint included), listed in
    CHECK_NAMES order."""
    results = run_checks(acr_pool(), with_acr())
    assert [r.status for r in results] == ["pass"] * len(results), [r for r in results if r.status != "pass"]
    # dns-link once per zone (the cluster's and the registry's), the others once each.
    assert list(dict.fromkeys(r.name for r in results)) == [n for n in CHECK_NAMES if n != "subnet"]
    assert [r.name for r in results].count("dns-link") == 2
    assert all(r.fix == "" for r in results)


def test_a_pool_without_a_cluster_gets_only_subnet_and_placement_checks() -> None:
    """No cluster configured: no peering, DNS or outbound checks, and the report says so."""
    topology = replace(healthy(), cluster=None, cluster_vnet=None, api_addresses=None, zones=())
    results = run_checks(make_pool(), topology)
    assert results[0].message.startswith("no private cluster configured")
    assert {r.name for r in results}.isdisjoint({"peering", "dns-link", "dns-record", "nsg-outbound"})


def test_runner_vnet_that_is_the_cluster_vnet_needs_no_peering() -> None:
    """The runner subnet in the cluster's own VNet passes the peering check."""
    topology = healthy(cluster_vnet=Lookup(RUNNER_VNET, runner_vnet()))
    assert check(topology, "peering").message == "vnet-runners is the cluster's VNet: no peering needed"


def test_peering_missing_on_the_runner_side_fails_and_says_which_side_to_create() -> None:
    """Only the cluster side exists (Initiated): fail on that peering, fix names the missing direction."""
    topology = healthy(
        runner_vnet=Lookup(RUNNER_VNET, runner_vnet(peerings=())),
        cluster_vnet=Lookup(
            CLUSTER_VNET,
            cluster_vnet(
                peerings=(
                    peering("aks-to-runners", CLUSTER_VNET, RUNNER_VNET, "10.20.0.0/16", state="Initiated"),
                )
            ),
        ),
    )
    result = check(topology, "peering")
    assert result.status == "fail" and result.resource.endswith("/virtualNetworkPeerings/aks-to-runners")
    assert "vnet-runners has no peering to vnet-aks" in result.message
    assert result.fix.startswith("create the peering from vnet-runners to vnet-aks")


def test_initiated_peering_without_a_way_back_fails() -> None:
    """The runner side Initiated and nothing back: fail, fix creates the cluster side."""
    topology = healthy(
        runner_vnet=Lookup(
            RUNNER_VNET,
            runner_vnet(
                peerings=(
                    peering("runners-to-aks", RUNNER_VNET, CLUSTER_VNET, "10.10.0.0/16", state="Initiated"),
                )
            ),
        ),
        cluster_vnet=Lookup(CLUSTER_VNET, cluster_vnet(peerings=())),
    )
    result = check(topology, "peering")
    assert "is Initiated: vnet-aks has no peering back" in result.message
    assert result.fix.startswith("create the peering from vnet-aks to vnet-runners")


@pytest.mark.parametrize(
    ("changes", "message", "fix"),
    [
        ({"state": "Disconnected"}, "is Disconnected", "delete and re-create 'runners-to-aks'"),
        ({"sync_level": "LocalNotInSync"}, "is LocalNotInSync", "az network vnet peering sync -g rg-runners"),
        (
            {"allow_virtual_network_access": False},
            "does not allow virtual network access",
            "allowVirtualNetworkAccess",
        ),
    ],
)
def test_a_peering_in_a_bad_state_fails_with_its_fix(
    changes: dict[str, object], message: str, fix: str
) -> None:
    """Disconnected, out of sync, or without virtual network access: each fails with its own fix."""
    bad = peering("runners-to-aks", RUNNER_VNET, CLUSTER_VNET, "10.10.0.0/16", **changes)
    result = check(healthy(runner_vnet=Lookup(RUNNER_VNET, runner_vnet(peerings=(bad,)))), "peering")
    assert result.status == "fail" and message in result.message and fix in result.fix


def test_unreadable_cluster_side_of_a_good_peering_is_a_warning() -> None:
    """The runner side is Connected and in sync but the cluster VNet cannot be read: warn, ask for Reader."""
    result = check(healthy(cluster_vnet=Lookup(CLUSTER_VNET, error="403 AuthorizationFailed")), "peering")
    assert result.status == "warn" and "403 AuthorizationFailed" in result.message
    assert "Reader on vnet-aks" in result.fix


def test_zone_without_a_link_to_the_runner_vnet_fails_and_points_at_fix() -> None:
    """Linked to the cluster VNet only: fail on the zone; peering does not carry DNS."""
    result = check(with_zone_links(link(CLUSTER_VNET, "link-vnet-aks")), "dns-link")
    assert result.status == "fail" and result.resource == ZONE
    assert "no virtual network link to vnet-runners" in result.message
    assert "doctor --fix" in result.fix


@pytest.mark.parametrize(("state", "provisioning"), [("InProgress", "Succeeded"), ("InProgress", "Creating")])
def test_a_link_not_yet_completed_fails_until_it_is(state: str, provisioning: str) -> None:
    """A link still InProgress does not resolve names yet."""
    result = check(with_zone_links(link(RUNNER_VNET, "link-vnet-runners", state, provisioning)), "dns-link")
    assert (
        result.status == "fail"
        and "InProgress" in result.message
        and "wait until the link is Completed" in result.fix
    )


def test_a_failed_link_must_be_recreated() -> None:
    """A link whose provisioning failed is reported with its state and a re-create fix."""
    result = check(
        with_zone_links(link(RUNNER_VNET, "link-vnet-runners", "InProgress", "Failed")), "dns-link"
    )
    assert "is Failed" in result.message and "create it again" in result.fix


def test_every_extra_zone_needs_its_link_too() -> None:
    """An extra zone (ACR) without a link fails on its own line; the cluster's zone still passes."""
    acr = ZoneCheck(Lookup(ACR_ZONE, zone(zone_id=ACR_ZONE)), "extra")
    topology = healthy(zones=(*healthy().zones, acr))
    results = run_checks(cluster_pool(cluster={"extra_dns_zone_ids": [ACR_ZONE]}), topology)
    links = [r for r in results if r.name == "dns-link"]
    assert [(r.status, r.resource.split("/")[-1] if r.status == "fail" else "") for r in links] == [
        ("pass", ""),
        ("fail", "privatelink.azurecr.io"),
    ]


def test_a_zone_that_cannot_be_read_names_the_role_to_grant() -> None:
    """A 403 on the zone fails dns-link and asks for Private DNS Zone Reader."""
    topology = healthy(
        zones=(ZoneCheck(Lookup(ZONE, error="403 AuthorizationFailed reading x"), "api-server"),)
    )
    result = check(topology, "dns-link")
    assert result.status == "fail" and "Private DNS Zone Reader" in result.fix


@pytest.mark.parametrize("address", ["20.61.45.12", "100.64.0.7"])
def test_an_a_record_outside_rfc1918_fails(address: str) -> None:
    """A public (or shared, non-RFC 1918) address in the A record fails dns-record."""
    result = check(healthy(api_addresses=Lookup(f"{ZONE}/A/aks-prod-7f3a9c2e", (address,))), "dns-record")
    assert result.status == "fail" and f"resolves to {address}" in result.message
    assert "private endpoint address" in result.fix


def test_a_missing_a_record_fails() -> None:
    """No A record for the FQDN: it does not resolve, and the fix says where to look."""
    result = check(healthy(api_addresses=Lookup(f"{ZONE}/A/aks-prod-7f3a9c2e")), "dns-record")
    assert "has no A record 'aks-prod-7f3a9c2e'" in result.message and "privateFqdn" in result.fix


def test_an_fqdn_outside_the_zone_fails() -> None:
    """A configured FQDN that is not a name in the configured zone is caught."""
    topology = healthy(cluster=Lookup("x", ApiServer("x", "aks.example.com", zone_id=ZONE)))
    assert "is not a name in zone" in check(topology, "dns-record").message


def test_custom_dns_servers_warn_and_name_the_zone_to_forward() -> None:
    """Custom DNS servers are a warning: they must forward the zone to 168.63.129.16."""
    topology = healthy(runner_vnet=Lookup(RUNNER_VNET, runner_vnet(dns_servers=("10.20.255.4",))))
    result = check(topology, "custom-dns")
    assert result.status == "warn" and "10.20.255.4" in result.message
    assert result.fix.startswith("forward privatelink.westeurope.azmk8s.io to 168.63.129.16")
    assert run_checks(cluster_pool(), topology) and all(
        r.status != "fail" for r in run_checks(cluster_pool(), topology)
    )


def test_azure_dns_given_explicitly_is_azure_dns() -> None:
    """dnsServers set to 168.63.129.16 only is Azure-provided DNS."""
    topology = healthy(runner_vnet=Lookup(RUNNER_VNET, runner_vnet(dns_servers=("168.63.129.16",))))
    assert check(topology, "custom-dns").status == "pass"


def subnet_with(prefix: str, configs: tuple[str, ...] = (), demand: int = 8) -> PoolTopology:
    base = healthy()
    assert base.subnet.value is not None
    subnet = replace(base.subnet.value, address_prefixes=(prefix,), ip_configuration_ids=configs)
    return replace(base, subnet=Lookup(SUBNET, subnet), subnet_demand=demand)


def nic_config(nic: str) -> str:
    return (
        "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/"
        f"networkInterfaces/{nic}/ipConfigurations/i"
    )


def test_capacity_reserves_five_addresses_and_counts_other_nics() -> None:
    """A /28 with 5 other NICs has 6 free for runners: too few for 8, fix suggests /27."""
    others = tuple(nic_config(f"db-{i}") for i in range(5))
    result = check(subnet_with("10.20.0.0/28", others), "subnet-capacity")
    assert result.status == "fail"
    assert "has 6 free addresses (16 - 5 reserved by Azure - 5 in use)" in result.message
    assert result.fix == "use a /27 or larger subnet, or lower limits.max_runners to fit 6"


def test_runner_nics_do_not_count_against_capacity() -> None:
    """NICs of the service's own runner VMs are bounded by max_runners, not counted as others."""
    runners = tuple(nic_config(f"rf-aks-prod-{i:010x}-nic") for i in range(5))
    assert check(subnet_with("10.20.0.0/28", runners), "subnet-capacity").status == "pass"


def test_capacity_is_shared_by_the_pools_in_one_subnet() -> None:
    """Pools sharing a subnet are sized together: 11 usable addresses do not fit 8 + 4 runners."""
    topology = replace(subnet_with("10.20.0.0/28", demand=12), subnet_pools=("aks-prod", "aks-dev"))
    result = check(topology, "subnet-capacity")
    assert result.status == "fail" and "pools aks-prod, aks-dev may run 12 runners" in result.message


def test_a_delegated_subnet_fails() -> None:
    """A subnet delegated to a service cannot hold VM NICs."""
    base = healthy()
    assert base.subnet.value is not None
    delegated = replace(base.subnet.value, delegations=("Microsoft.Web/serverFarms",))
    result = check(replace(base, subnet=Lookup(SUBNET, delegated)), "subnet-delegation")
    assert result.status == "fail" and "Microsoft.Web/serverFarms" in result.message


@pytest.mark.parametrize("source", ["Internet", "*", "0.0.0.0/0", "Any"])
def test_an_nsg_rule_admitting_the_internet_fails(source: str) -> None:
    """An inbound allow rule from the Internet (by tag, wildcard or 0.0.0.0/0) fails nsg-inbound."""
    open_rule = rule(
        "allow-ssh", 100, "Inbound", "Allow", protocol="Tcp", sources=(source,), destination_ports=("22",)
    )
    result = check(healthy(nsg=Lookup(NSG, nsg(open_rule))), "nsg-inbound")
    assert (
        result.status == "fail" and "rule 'allow-ssh' (priority 100) allows inbound TCP 22" in result.message
    )
    assert result.fix.startswith("delete rule 'allow-ssh'")


def test_an_inbound_rule_from_a_public_range_warns() -> None:
    """A specific public range is not the whole Internet: warn, ask to confirm it is yours."""
    office = rule(
        "allow-office", 100, "Inbound", "Allow", sources=("52.168.10.0/24",), destination_ports=("22",)
    )
    assert check(healthy(nsg=Lookup(NSG, nsg(office))), "nsg-inbound").status == "warn"


def test_an_internet_allow_rule_behind_a_deny_all_passes() -> None:
    """A deny-all rule of higher priority means the open rule never decides."""
    deny = rule("deny-all", 100, "Inbound", "Deny")
    allow = rule("allow-ssh", 200, "Inbound", "Allow", sources=("Internet",), destination_ports=("22",))
    assert check(healthy(nsg=Lookup(NSG, nsg(deny, allow))), "nsg-inbound").status == "pass"


def test_an_nsg_denying_outbound_443_to_the_api_server_fails() -> None:
    """A deny rule for TCP 443 to the cluster's range fails nsg-outbound with a priority hint."""
    deny = https_out("deny-https", 300, "Deny", "10.10.0.0/16")
    result = check(healthy(nsg=Lookup(NSG, nsg(deny))), "nsg-outbound")
    assert result.status == "fail" and "denies outbound TCP 443 to the API server 10.10.0.4" in result.message
    assert "priority below 300" in result.fix


def test_an_allow_rule_of_higher_priority_wins_over_the_deny() -> None:
    """Rules are evaluated by priority: an allow for the API server before the deny passes."""
    allow = https_out("allow-aks", 200, "Allow", "10.10.0.4")
    deny = rule("deny-https", 300, "Outbound", "Deny", protocol="Tcp", destination_ports=("400-500",))
    result = check(healthy(nsg=Lookup(NSG, nsg(allow, deny))), "nsg-outbound")
    assert result.status == "pass" and "allowed by rule 'allow-aks'" in result.message


def test_a_deny_for_another_port_does_not_matter() -> None:
    """Denying outbound 22 says nothing about 443."""
    deny = rule("deny-ssh", 300, "Outbound", "Deny", destination_ports=("22",))
    assert check(healthy(nsg=Lookup(NSG, nsg(deny))), "nsg-outbound").status == "pass"


def test_a_vnet_in_another_region_fails_location() -> None:
    """The pool's location must be its VNet's region."""
    topology = healthy(runner_vnet=Lookup(RUNNER_VNET, runner_vnet(location="northeurope")))
    result = check(topology, "location")
    assert result.status == "fail" and "set azure.location to northeurope" in result.fix


def test_vm_sizes_fail_only_when_none_can_be_used() -> None:
    """One restricted size of two warns (fallback); all restricted fails."""
    restricted = {
        "standard_d2ads_v5": SizeOffer("NotAvailableForSubscription"),
        "standard_d2s_v5": SizeOffer(),
    }
    two = {"azure": {"vm_sizes": ["Standard_D2ads_v5", "Standard_D2s_v5"]}}
    topology = healthy(sizes=Lookup("loc", restricted))
    warned = check(topology, "vm-sizes", two)
    assert warned.status == "warn" and "Standard_D2ads_v5 (NotAvailableForSubscription)" in warned.message
    failed = check(topology, "vm-sizes")
    assert failed.status == "fail" and "az vm list-skus -l westeurope" in failed.fix


def test_a_marketplace_image_that_is_not_offered_fails() -> None:
    """An image the location does not offer fails with the command that lists what is."""
    topology = healthy(image=Lookup("x", ImageFacts("Canonical:ubuntu-24_04-lts:server:latest", True, False)))
    result = check(topology, "image")
    assert result.status == "fail" and "az vm image list -l westeurope -p Canonical" in result.fix


def test_a_missing_subnet_is_one_failure_not_a_cascade() -> None:
    """Without the subnet, one `subnet` failure replaces the network checks; placement still runs."""
    results = run_checks(cluster_pool(), healthy(subnet=Lookup(SUBNET)))
    assert [(r.name, r.status) for r in results] == [
        ("cluster", "pass"),
        ("subnet", "fail"),
        ("vm-sizes", "pass"),
        ("image", "pass"),
    ]
    assert "check azure.subnet_id" in results[1].fix


def test_a_cluster_that_is_not_found_fails_the_cluster_check() -> None:
    """An AKS cluster ID that does not exist fails `cluster` and its fix names the setting."""
    result = check(healthy(cluster=Lookup("/subscriptions/x/.../aks-nope")), "cluster")
    assert result.status == "fail" and "cluster.aks_cluster_id" in result.fix


def test_fqdn_constant_is_the_one_the_cluster_pool_uses() -> None:
    """The in-memory world and the pool builder agree on the API server name."""
    pool = cluster_pool()
    assert pool.cluster is not None and pool.cluster.api_server_fqdn == FQDN
