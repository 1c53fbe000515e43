"""Every preflight check against the ARM simulator through the real SDK clients (network, private
DNS, AKS, compute): all pass on `healthy`, and each fails (or warns) with its fix on its scenario."""

from __future__ import annotations

import pytest

from runner_fleet.ports.preflight import CheckResult
from runner_fleet.preflight import CHECK_NAMES, run_preflight
from runner_fleet.settings import Pool
from runner_fleet.settings.pool import Pool as PoolModel
from simulator.arm.scenarios import scenario_names
from simulator.arm.topology import AKS_CLUSTER_ID, INT_CLUSTER_ID, INT_SUBNET, RUNNERS_SUBNET
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
        "forward privatelink.westeurope.azmk8s.io to 168.63.129.16",
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
        "rule 'AllowVnetOutBound' (priority 65000) lets runner VMs reach 10.10.0.0/16, 10.20.0.0/16 "
        "except 10.10.0.4 with any protocol on any port; rule 'AllowVnetInBound' (priority 65000) admits "
        "connections to runner VMs from 10.10.0.0/16, 10.20.0.0/16",
        "add an outbound rule denying VirtualNetwork at a priority below 65000, after one allowing TCP 443 "
        "to 10.10.0.4; add an inbound rule denying VirtualNetwork",
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
]


async def reports(name: str, pools: tuple[Pool, ...]) -> dict[str, tuple[CheckResult, ...]]:
    with simulated_arm(name) as arm:
        reader = reader_for(arm)
        try:
            return {p.name: (await run_preflight(p, reader, pools=pools)).report.checks for p in pools}
        finally:
            await reader.close()


async def test_every_check_passes_for_every_example_pool_on_the_healthy_topology() -> None:
    """`healthy`: every example pool passes every check; pools with a cluster get all of them."""
    found = await reports("healthy", example_pools())
    for pool, checks in found.items():
        assert [c.status for c in checks] == ["pass"] * len(checks), (pool, checks)
    assert [c.name for c in found["aks-prod"]] == [n for n in CHECK_NAMES if n != "subnet"]


@pytest.mark.parametrize(
    ("name", "pool", "check", "status", "message", "fix"), BROKEN, ids=[b[0] + "/" + b[1] for b in BROKEN]
)
async def test_each_scenario_trips_its_check_with_a_fix(  # noqa: PLR0917 - one parameter per column
    name: str, pool: str, check: str, status: str, message: str, fix: str
) -> None:
    """The scenario's check has the expected verdict, message and fix; the other checks are unaffected."""
    checks = (await reports(name, example_pools()))[pool]
    [result] = [c for c in checks if c.name == check]
    assert (result.status, message in result.message, fix in result.fix) == (status, True, True), result
    others = [c for c in checks if c.name != check and c.status != "pass"]
    # Only public-dns-answer also loses the cluster's VNet (its address is in no VNet): a warning.
    assert others == [] or [(c.name, c.status) for c in others] == [("peering", "warn")], others


def test_every_scenario_is_covered() -> None:
    """Each named scenario is exercised by a test above (healthy by the first)."""
    assert set(scenario_names()) == {"healthy"} | {b[0] for b in BROKEN}


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
