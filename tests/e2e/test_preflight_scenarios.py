"""Every preflight check against the ARM simulator through the real SDK clients (network, private
DNS, AKS, compute): all pass on `healthy`, and each fails (or warns) with its fix on its scenario,
the way out (NAT gateway, Azure Firewall, appliance) and the private endpoints included."""

from __future__ import annotations

import pytest

from runner_fleet.ports.preflight import CheckResult
from runner_fleet.preflight import CHECK_NAMES, run_preflight
from runner_fleet.preflight.fix import apply_link_fixes, plan_link_fixes
from runner_fleet.settings import Pool
from runner_fleet.settings.pool import Pool as PoolModel
from simulator.arm.scenarios import scenario_names
from simulator.arm.topology import (
    ACR_ID,
    ACR_ZONE_ID,
    AKS_CLUSTER_ID,
    INT_CLUSTER_ID,
    INT_SUBNET,
    KEYVAULT_ID,
    RUNNERS_SUBNET,
    RUNNERS_VNET,
)
from tests.builders import DEFAULT_SETTINGS
from tests.e2e.preflight_sim import example_pools, reader_for, simulated_arm

pytestmark = pytest.mark.e2e

# scenario, pool, check, status, in the message, in the fix
BROKEN = [
    (
        "missing-dns-link",
        "aks-prod",
        "dns-link",
        "fail",
        "no virtual network link to vnet-runners",
        "doctor --fix",
    ),
    ("link-in-progress", "aks-prod", "dns-link", "fail", "is InProgress", "wait until the link is Completed"),
    (
        "one-sided-peering",
        "aks-prod",
        "peering",
        "fail",
        "'aks-to-runners' to vnet-runners (Initiated), but vnet-runners has no peering to vnet-aks",
        "create the peering from vnet-runners to vnet-aks",
    ),
    (
        "peering-initiated",
        "gl-aks",
        "peering",
        "fail",
        "'runners-to-aks' (vnet-runners -> vnet-aks) is Initiated: vnet-aks has no peering back",
        "create the peering from vnet-aks to vnet-runners",
    ),
    ("peering-disconnected", "aks-prod", "peering", "fail", "is Disconnected", "re-create 'runners-to-aks'"),
    (
        "peering-not-in-sync",
        "aks-prod",
        "peering",
        "fail",
        "is LocalNotInSync",
        "az network vnet peering sync",
    ),
    ("no-peering", "aks-prod", "peering", "fail", "are not peered", "in both directions"),
    (
        "custom-dns",
        "aks-prod",
        "custom-dns",
        "warn",
        "custom DNS servers 10.20.255.4, 10.20.255.5",
        "forward privatelink.westeurope.azmk8s.io, privatelink.azurecr.io, privatelink.vaultcore.azure.net "
        "to 168.63.129.16 from those servers, or use Azure-provided DNS; `runner-fleet doctor --probe`",
    ),
    (
        "subnet-full",
        "aks-dev",
        "subnet-capacity",
        "fail",
        "has 6 free addresses",
        "use a /27 or larger subnet",
    ),
    (
        "delegated-subnet",
        "aks-prod",
        "subnet-delegation",
        "fail",
        "Microsoft.Web/serverFarms",
        "without delegations",
    ),
    (
        "open-inbound-nsg",
        "aks-dev",
        "nsg-inbound",
        "fail",
        "allows inbound TCP 22 from Internet",
        "delete rule",
    ),
    (
        "outbound-443-denied",
        "aks-prod",
        "nsg-outbound",
        "fail",
        "'deny-https-to-aks' (priority 300) denies outbound TCP 443 to the API server 10.10.0.4",
        "priority below 300",
    ),
    (
        "open-vnet",
        "aks-prod",
        "nsg-isolation",
        "warn",
        "rule 'AllowVnetOutBound' (priority 65000) lets runner VMs reach addresses in 10.20.0.0/16, "
        "10.10.0.0/16 with any protocol on any port; rule 'AllowVnetInBound' (priority 65000) admits "
        "connections to runner VMs from 10.10.0.0/16, 10.20.0.0/16",
        # The API server and the registry's and vault's private endpoints, which the pool lists.
        "add an outbound rule denying VirtualNetwork at a priority below 65000, after one allowing TCP 443 "
        "to 10.10.0.4, 10.10.12.4, 10.10.12.5, 10.10.12.6; add an inbound rule denying VirtualNetwork",
    ),
    (
        "public-dns-answer",
        "aks-prod",
        "dns-record",
        "fail",
        "resolves to 20.61.45.12",
        "private endpoint address",
    ),
    (
        "vnet-other-region",
        "aks-prod",
        "location",
        "fail",
        "in northeurope",
        "set azure.location to northeurope",
    ),
    ("sku-not-offered", "gl-aks", "vm-sizes", "fail", "NotAvailableForSubscription", "az vm list-skus"),
    (
        "sku-not-offered",
        "aks-prod",
        "vm-sizes",
        "warn",
        "fall back to Standard_D2s_v5",
        "remove the unavailable",
    ),
    ("image-not-offered", "aks-prod", "image", "fail", "is not offered in westeurope", "az vm image list"),
    ("demo", "aks-ops", "dns-link", "fail", "no virtual network link to vnet-ops", "doctor --fix"),
    (
        "no-egress",
        "aks-prod",
        "egress",
        "fail",
        "snet-runners has no way out to github.com, api.github.com and 5 more: no NAT gateway, no route to "
        "a firewall, and it is a private subnet (defaultOutboundAccess false); runner VMs get no public IP "
        "and join no load balancer",
        "attach a NAT gateway with a public IP to snet-runners",
    ),
    ("no-egress", "gl-aks", "egress", "fail", "has no way out to gitlab.com", "attach a NAT gateway"),
    (
        "default-outbound",
        "aks-prod",
        "egress",
        "warn",
        "only through implicit default outbound access",
        "then set defaultOutboundAccess to false",
    ),
    (
        "firewall-blocks-forge",
        "aks-prod",
        "egress",
        "fail",
        "firewall afw-hub (policy afwp-runners) denies TCP 443 from 10.20.0.0/24 to github.com, "
        "api.github.com",
        "add an application rule to policy afwp-runners: source 10.20.0.0/24, Https:443, target FQDNs "
        "github.com, api.github.com",
    ),
    ("firewall-blocks-forge", "gl-aks", "egress", "fail", "to gitlab.com (no rule allows)", "gitlab.com"),
    (
        "appliance-egress",
        "aks-prod",
        "egress",
        "warn",
        "cannot read the rules of the appliance at 10.40.1.4 (not an Azure Firewall)",
        "run `runner-fleet doctor --probe`",
    ),
    (
        "acr-zone-unlinked",
        "aks-prod",
        "dns-link",
        "fail",
        "privatelink.azurecr.io has no virtual network link to vnet-runners",
        "link privatelink.azurecr.io to vnet-runners (runner-fleet doctor --fix creates the link)",
    ),
    (
        "keyvault-zone-unlinked",
        "aks-prod",
        "dns-link",
        "fail",
        "privatelink.vaultcore.azure.net has no virtual network link to vnet-runners",
        "doctor --fix",
    ),
    (
        "endpoint-pending",
        "aks-prod",
        "private-endpoint",
        "fail",
        "private endpoint pe-kv-prod's connection to kv-prod is Pending",
        "approve the connection on kv-prod",
    ),
]

# Checks besides the scenario's own that do not pass there, and why.
ALSO = {
    # The cluster's address is in no VNet: which VNet the cluster is in cannot be told (a warning).
    "public-dns-answer": {("peering", "warn")},
    # The registry's and vault's endpoints are in the cluster's VNet too: no peering, no way to them.
    "one-sided-peering": {("private-endpoint", "fail")},
    "peering-disconnected": {("private-endpoint", "fail")},
    "no-peering": {("private-endpoint", "fail")},
}


async def reports(name: str, pools: tuple[Pool, ...]) -> dict[str, tuple[CheckResult, ...]]:
    with simulated_arm(name) as arm:
        reader = reader_for(arm)
        try:
            return {
                p.name: (await run_preflight(p, reader, pools=pools, settings=DEFAULT_SETTINGS)).report.checks
                for p in pools
            }
        finally:
            await reader.close()


async def test_every_check_passes_for_every_example_pool_on_the_healthy_topology() -> None:
    """`healthy`: every example pool passes every check; pools with a cluster get all of them."""
    found = await reports("healthy", example_pools())
    for pool, checks in found.items():
        assert [c.status for c in checks] == ["pass"] * len(checks), (pool, checks)
    names = [c.name for c in found["aks-prod"]]
    assert list(dict.fromkeys(names)) == [n for n in CHECK_NAMES if n != "subnet"]
    # The cluster's zone and the registry's and vault's (from their endpoints' zone groups); one
    # private-endpoint line per listed resource.
    assert (names.count("dns-link"), names.count("private-endpoint")) == (3, 2)
    [egress] = [c for c in found["aks-prod"] if c.name == "egress"]
    assert "through NAT gateway ng-runners (1 public IP)" in egress.message
    endpoints = [c for c in found["aks-prod"] if c.name == "private-endpoint"]
    assert [c.resource for c in endpoints] == [ACR_ID, KEYVAULT_ID]
    assert endpoints[0].message.startswith("pe-acrprod (container registry acrprod): Approved, 10.10.12.4")


@pytest.mark.parametrize(
    ("name", "pool", "check", "status", "message", "fix"), BROKEN, ids=[b[0] + "/" + b[1] for b in BROKEN]
)
async def test_each_scenario_trips_its_check_with_a_fix(  # noqa: PLR0917 - one parameter per column
    name: str, pool: str, check: str, status: str, message: str, fix: str
) -> None:
    """The scenario's check has the expected verdict, message and fix; the other checks are unaffected
    (but for what the scenario's break also takes away: ALSO)."""
    checks = (await reports(name, example_pools()))[pool]
    named = [c for c in checks if c.name == check]
    [result] = [c for c in named if c.status != "pass"] or named
    assert (result.status, message in result.message, fix in result.fix) == (status, True, True), result
    others = {(c.name, c.status) for c in checks if c is not result and c.status != "pass"}
    assert others <= ALSO.get(name, set()), others


async def test_a_passing_firewall_is_the_way_out() -> None:
    """`firewall-egress`: the default route leads to an Azure Firewall whose policy allows every forge
    host from the runner subnet: egress passes naming it, for GitHub and GitLab pools alike."""
    found = await reports("firewall-egress", example_pools())
    for pool in ("aks-prod", "gl-aks"):
        assert all(c.status == "pass" for c in found[pool]), (pool, found[pool])
        [egress] = [c for c in found[pool] if c.name == "egress"]
        assert "goes to firewall afw-hub (policy afwp-runners), which allows TCP 443 to" in egress.message


async def test_the_report_names_the_approved_endpoints() -> None:
    """The report lists the DNS names of the pool's approved endpoints; a pending one's are left out."""
    pools = example_pools()
    [prod] = [p for p in pools if p.name == "aks-prod"]
    expected = ("acrprod.azurecr.io", "acrprod.westeurope.data.azurecr.io", "kv-prod.vault.azure.net")
    for name, names in (("healthy", expected), ("endpoint-pending", expected[:2])):
        with simulated_arm(name) as arm:
            reader = reader_for(arm)
            try:
                report = (await run_preflight(prod, reader, pools=pools, settings=DEFAULT_SETTINGS)).report
            finally:
                await reader.close()
        assert report.endpoints == names, name


async def test_fix_links_the_registry_zone_and_the_pool_passes() -> None:
    """`acr-zone-unlinked`: --fix plans exactly one link, from privatelink.azurecr.io to vnet-runners,
    creates it, and the pool passes afterwards."""
    pools = example_pools()
    [prod] = [p for p in pools if p.name == "aks-prod"]
    with simulated_arm("acr-zone-unlinked") as arm:
        reader = reader_for(arm)
        try:
            before = await run_preflight(prod, reader, pools=pools, settings=DEFAULT_SETTINGS)
            fixes = plan_link_fixes([before.topology])
            outcomes = await apply_link_fixes(reader, fixes)
            after = await run_preflight(prod, reader, pools=pools, settings=DEFAULT_SETTINGS)
        finally:
            await reader.close()
    assert [(f.zone_id, f.vnet_id, f.name) for f in fixes] == [
        (ACR_ZONE_ID, RUNNERS_VNET, "link-vnet-runners")
    ]
    assert [o.created for o in outcomes] == [True]
    assert not before.report.ok and after.report.ok, after.report.failures


def test_every_scenario_is_covered() -> None:
    """Each named scenario is exercised by a test above (healthy by the first, firewall-egress by its
    own)."""
    assert set(scenario_names()) == {"healthy", "firewall-egress"} | {b[0] for b in BROKEN}


def aks_pool(name: str, cluster_id: str, subnet_id: str = RUNNERS_SUBNET) -> Pool:
    return PoolModel.model_validate(
        {
            "name": name,
            "forge": "github",
            "labels": [name],
            "github": {"org": "example-org", "runner_group_id": 2},
            "azure": {
                "subscription_id": "00000000-0000-0000-0000-000000000001",
                "resource_group": "rg-runners",
                "location": "westeurope",
                "subnet_id": subnet_id,
                "vm_sizes": ["Standard_D2s_v5"],
            },
            "cluster": {"aks_cluster_id": cluster_id},
            # The runner NSGs open TCP 443 to these endpoints: a pool that uses them.
            "private_endpoints": [ACR_ID, KEYVAULT_ID],
        }
    )


async def test_clusters_are_found_from_their_aks_resource_ids() -> None:
    """From the AKS API: a custom zone; a `system` zone with API server VNet integration; a wrong ID fails."""
    missing = AKS_CLUSTER_ID.replace("aks-prod", "aks-gone")
    pools = (
        aks_pool("by-id", AKS_CLUSTER_ID),
        # Runners of another cluster get their own subnet, whose NSG opens that cluster's API server.
        aks_pool("by-id-int", INT_CLUSTER_ID, INT_SUBNET),
        aks_pool("by-id-gone", missing),
    )
    found = await reports("healthy", pools)
    assert all(c.status == "pass" for c in found["by-id"]), found["by-id"]
    assert all(c.status == "pass" for c in found["by-id-int"]), found["by-id-int"]
    cluster = next(c for c in found["by-id-int"] if c.name == "cluster")
    assert (
        "5a7f3c21-8d4b-4e6a-9f0c-1b2d3e4f5a6b.private.westeurope.azmk8s.io (AKS cluster aks-int)"
        in cluster.message
    )
    gone = next(c for c in found["by-id-gone"] if c.name == "cluster")
    assert gone.status == "fail" and gone.message == "AKS cluster aks-gone not found"
