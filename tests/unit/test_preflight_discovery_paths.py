"""Discovery of the way out and of private endpoints over an in-memory reader: what is read (and what
is not), how a firewall's policy chain is put together, and what the report and `--fix` make of it."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from runner_fleet.cli.doctor import diagnose
from runner_fleet.preflight.discovery import discover
from runner_fleet.preflight.fix import plan_link_fixes
from runner_fleet.preflight.reader import ReadError
from runner_fleet.preflight.run import run_preflight
from runner_fleet.preflight.topology import (
    FirewallFacts,
    FirewallPolicyFacts,
    FirewallRule,
    RouteFacts,
    RouteTableFacts,
)
from runner_fleet.settings.service import ServiceSettings
from tests.builders import DEFAULT_SETTINGS
from tests.unit.preflight_world import (
    ACR_ID,
    ACR_PE,
    ACR_ZONE,
    ISOLATED,
    NAT,
    NET,
    NSG,
    RUNNER_VNET,
    SUBNET,
    MemoryTopologyReader,
    acr_endpoint,
    acr_pool,
    acr_reader,
    acr_zone,
    cluster_pool,
    healthy_reader,
    nsg,
    peering,
    rule,
    runner_vnet,
    subnet_facts,
)

HUB_SUB = "00000000-0000-0000-0000-000000000002"
HUB = f"/subscriptions/{HUB_SUB}/resourceGroups/rg-hub/providers/Microsoft.Network"
HUB_VNET = f"{HUB}/virtualNetworks/vnet-hub"
RT = f"{NET}/routeTables/rt-runners"
FW = f"{HUB}/azureFirewalls/fw-hub"
POLICY = f"{HUB}/firewallPolicies/fwpol-runners"
BASE = f"{HUB}/firewallPolicies/fwpol-central"
IP_GROUP = f"{HUB}/ipGroups/ipg-runners"
POOL = cluster_pool()


def allow(name: str, *fqdns: str, **changes: Any) -> FirewallRule:
    base = FirewallRule(
        "application",
        name,
        "Allow",
        "forge",
        200,
        group="runners",
        group_priority=300,
        source_ip_groups=(IP_GROUP,),
        app_protocols=(("Https", 443),),
        target_fqdns=fqdns,
    )
    return replace(base, **changes)


def through_hub_firewall() -> MemoryTopologyReader:
    """Runners routed to a firewall in a peered hub VNet of another subscription, with a base policy."""
    reader = healthy_reader()
    reader.subnets[SUBNET.lower()] = subnet_facts(nat_gateway_id=None, route_table_id=RT)
    hub = peering("runners-to-hub", RUNNER_VNET, HUB_VNET, "10.0.0.0/16")
    reader.vnets[RUNNER_VNET.lower()] = runner_vnet(peerings=(*runner_vnet().peerings, hub))
    route = RouteFacts("default-to-firewall", "0.0.0.0/0", "VirtualAppliance", "10.0.1.4")
    reader.route_tables[RT.lower()] = RouteTableFacts(RT, "rt-runners", (route,), True)
    reader.nsgs[NSG.lower()] = nsg(
        *(r for r in ISOLATED if r.name != "deny-vnet-outbound"),
        rule("deny-private-outbound", 4000, "Outbound", "Deny", destinations=("10.0.0.0/8",)),
    )
    reader.firewalls_by_subscription[HUB_SUB] = [
        FirewallFacts(f"{HUB}/azureFirewalls/fw-other", "fw-other", ("10.0.9.4",)),
        FirewallFacts(FW, "fw-hub", ("10.0.1.4",), POLICY),
    ]
    everything = (
        "github.com",
        "*.github.com",
        "*.actions.githubusercontent.com",
        "*.blob.core.windows.net",
        "objects.githubusercontent.com",
    )
    reader.policies[POLICY.lower()] = FirewallPolicyFacts(
        POLICY, "fwpol-runners", BASE, True, (allow("github", *everything),)
    )
    reader.policies[BASE.lower()] = FirewallPolicyFacts(BASE, "fwpol-central", None, None, ())
    reader.ip_groups[IP_GROUP.lower()] = ("10.20.0.0/16",)
    return reader


async def test_a_nat_gateway_is_read_and_no_firewall_is_looked_for() -> None:
    """Public traffic goes to the Internet: the NAT gateway is read; firewalls and policies are not."""
    reader = healthy_reader()
    topology = await discover(POOL, reader, pools=(POOL,), settings=DEFAULT_SETTINGS)
    assert topology.nat_gateway is not None and topology.nat_gateway.resource == NAT
    assert topology.firewall is None and topology.route_table is None
    assert not any("azureFirewalls" in r or "firewallPolicies" in r for r in reader.read_log)


async def test_the_firewall_owning_the_next_hop_is_found_with_its_policy_chain() -> None:
    """The hub's subscription is listed (the peered VNet holds 10.0.1.4); the firewall with that
    address, its policy, its base policy (level 1) and the IP group its rule names are read."""
    reader = through_hub_firewall()
    preflight = await run_preflight(POOL, reader, pools=(POOL,), settings=DEFAULT_SETTINGS)
    found = preflight.topology.firewall
    assert found is not None and found.value is not None
    firewall = found.value
    assert (firewall.name, firewall.policies, firewall.dns_proxy) == ("fw-hub", (POLICY, BASE), True)
    assert firewall.ip_groups == ((IP_GROUP.lower(), ("10.20.0.0/16",)),)
    assert f"/subscriptions/{HUB_SUB}/azureFirewalls" in reader.read_log
    assert NAT not in reader.read_log
    [egress] = [c for c in preflight.report.checks if c.name == "egress"]
    assert egress.status == "pass" and "firewall fw-hub (policy fwpol-runners)" in egress.message


async def test_a_base_policy_rule_is_placed_before_the_childs() -> None:
    """The base policy's deny (level 1, group 900) decides before the child's allow (group 300)."""
    reader = through_hub_firewall()
    deny = allow("no-github", "github.com", action="Deny", collection="central", group_priority=900)
    reader.policies[BASE.lower()] = FirewallPolicyFacts(BASE, "fwpol-central", None, None, (deny,))
    preflight = await run_preflight(POOL, reader, pools=(POOL,), settings=DEFAULT_SETTINGS)
    assert preflight.topology.firewall is not None and preflight.topology.firewall.value is not None
    assert [r.level for r in preflight.topology.firewall.value.rules] == [0, 1]
    [egress] = [c for c in preflight.report.checks if c.name == "egress"]
    assert egress.status == "fail" and "of the base policy" in egress.message


async def test_an_appliance_address_no_firewall_has_is_not_a_firewall() -> None:
    """No firewall holds the next hop: the lookup is empty and egress warns about an appliance."""
    reader = through_hub_firewall()
    reader.firewalls_by_subscription[HUB_SUB] = []
    preflight = await run_preflight(POOL, reader, pools=(POOL,), settings=DEFAULT_SETTINGS)
    firewall = preflight.topology.firewall
    assert firewall is not None and firewall.missing
    [egress] = [c for c in preflight.report.checks if c.name == "egress"]
    assert egress.status == "warn" and "(not an Azure Firewall)" in egress.message


async def test_an_unreadable_base_policy_is_named() -> None:
    """A 403 on the base policy: the child's rules are kept, the gap is said."""
    reader = through_hub_firewall()
    reader.failing[BASE.lower()] = ReadError("403 AuthorizationFailed reading fwpol-central")
    preflight = await run_preflight(POOL, reader, pools=(POOL,), settings=DEFAULT_SETTINGS)
    [egress] = [c for c in preflight.report.checks if c.name == "egress"]
    assert egress.status == "warn" and "policy fwpol-central: 403 AuthorizationFailed" in egress.message


async def test_a_registrys_endpoints_are_found_and_named_in_the_report() -> None:
    """The registry's endpoint is found by listing the subscription; its zone joins the pool's zones
    (role endpoint); the report names its DNS names for the probe."""
    reader = acr_reader()
    pool = acr_pool()
    preflight = await run_preflight(pool, reader, pools=(pool,), settings=DEFAULT_SETTINGS)
    assert preflight.report.ok, preflight.report.failures
    assert preflight.report.endpoints == ("acrprod.azurecr.io", "acrprod.westeurope.data.azurecr.io")
    assert [(z.zone.resource, z.role) for z in preflight.topology.zones][-1] == (ACR_ZONE, "endpoint")
    [check] = [c for c in preflight.report.checks if c.name == "private-endpoint"]
    assert check.status == "pass" and check.resource == ACR_ID


async def test_a_subscription_is_listed_once_for_several_entries() -> None:
    """A registry and a vault in the same subscription: one listing of its private endpoints."""
    reader = acr_reader()
    vault = ACR_ID.replace(
        "Microsoft.ContainerRegistry/registries/acrprod", "Microsoft.KeyVault/vaults/kv-prod"
    )
    pool = cluster_pool(private_endpoints=[ACR_ID, vault])
    preflight = await run_preflight(pool, reader, pools=(pool,), settings=DEFAULT_SETTINGS)
    assert sum(r.endswith("/privateEndpoints") for r in reader.read_log) == 1
    results = [c for c in preflight.report.checks if c.name == "private-endpoint"]
    assert [(c.resource, c.status) for c in results] == [(ACR_ID, "pass"), (vault, "fail")]
    assert "no private endpoint of key vault kv-prod found" in results[1].message


async def test_a_pending_endpoint_is_not_named_in_the_report() -> None:
    """Only approved endpoints' names are for runners to try."""
    reader = acr_reader()
    pending = replace(acr_endpoint().connections[0], status="Pending")
    reader.endpoints[ACR_PE.lower()] = acr_endpoint(connections=(pending,), zone_groups=None)
    preflight = await run_preflight(acr_pool(), reader, pools=(acr_pool(),), settings=DEFAULT_SETTINGS)
    assert preflight.report.endpoints == () and not preflight.report.ok


async def test_fix_links_an_endpoint_zone_too() -> None:
    """The registry's zone unlinked from the runner VNet: dns-link fails on it and --fix plans it."""
    reader = acr_reader()
    reader.zones[ACR_ZONE.lower()] = replace(acr_zone(), links=())
    preflight = await run_preflight(acr_pool(), reader, pools=(acr_pool(),), settings=DEFAULT_SETTINGS)
    failing = [c for c in preflight.report.failures if c.name == "dns-link"]
    assert [c.resource for c in failing] == [ACR_ZONE]
    assert "privatelink.azurecr.io has no virtual network link to vnet-runners" in failing[0].message
    fixes = plan_link_fixes([preflight.topology])
    assert [(f.zone_id, f.vnet_id) for f in fixes] == [(ACR_ZONE, RUNNER_VNET)]


async def test_pools_sharing_the_subnet_count_each_others_endpoints() -> None:
    """A second pool in the subnet without endpoints: nsg-isolation counts the first pool's endpoint
    addresses as needed, so the shared allow rule is no finding."""
    reader = acr_reader()
    plain = cluster_pool("aks-two")
    preflight = await run_preflight(plain, reader, pools=(acr_pool(), plain), settings=DEFAULT_SETTINGS)
    assert preflight.topology.subnet_endpoint_addresses == ("10.20.1.4", "10.20.1.5")
    [isolation] = [c for c in preflight.report.checks if c.name == "nsg-isolation"]
    assert isolation.status == "pass", isolation


async def test_the_forge_hosts_follow_the_settings() -> None:
    """With GitHub Enterprise Server settings, the way out must allow the instance's host only."""
    settings = ServiceSettings.model_construct(github_api_url="https://ghe.example.com/api/v3")
    topology = await discover(POOL, healthy_reader(), pools=(POOL,), settings=settings)
    assert [h.name for h in topology.forge_hosts] == ["ghe.example.com"]


async def test_doctor_judges_the_way_out_to_the_forge_hosts_of_its_settings() -> None:
    """`doctor` checks egress with the service's settings too: a GitHub Enterprise Server pool's way
    out is judged for the instance's host, as the provisioning gate judges it."""
    settings = ServiceSettings.model_construct(github_api_url="https://ghe.example.com/api/v3")
    diagnosis = await diagnose([POOL], healthy_reader(), settings=settings)
    [report] = diagnosis.reports
    [egress] = [c for c in report.checks if c.name == "egress"]
    assert egress.status == "pass" and "ghe.example.com" in egress.message, egress
    assert "github.com" not in egress.message.replace("ghe.example.com", "")


async def test_pools_in_another_subnet_behind_the_same_nsg_count_too() -> None:
    """The NSG lists the subnets it is associated with: a pool in another of them is filtered by the
    same rules, so its endpoints are needed addresses here too."""
    reader = acr_reader()
    other_subnet = f"{RUNNER_VNET}/subnets/snet-other"
    current = reader.nsgs[NSG.lower()]
    reader.nsgs[NSG.lower()] = replace(current, subnet_ids=(SUBNET, other_subnet))
    elsewhere = acr_pool(name="aks-elsewhere", azure={"subnet_id": other_subnet})
    plain = cluster_pool("aks-two")
    preflight = await run_preflight(plain, reader, pools=(elsewhere, plain), settings=DEFAULT_SETTINGS)
    assert preflight.topology.subnet_endpoint_addresses == ("10.20.1.4", "10.20.1.5")
    assert preflight.topology.subnet_pools == ("aks-two",)
