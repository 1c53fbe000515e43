"""The Azure adapters send only the API versions the cloud table pins, for every client they build."""

from __future__ import annotations

import pytest

from runner_fleet.adapters.azure.clouds import CLOUDS, ApiVersions
from runner_fleet.preflight.run import run_preflight
from runner_fleet.settings import Pool
from simulator.arm.api_versions import DEFAULT_SERVED
from simulator.arm.topology import (
    ACR_ID,
    AKS_CLUSTER_ID,
    INT_CLUSTER_ID,
    INT_SUBNET,
    KEYVAULT_ID,
    RUNNERS_SUBNET,
)
from tests.builders import DEFAULT_SETTINGS, pool_dict
from tests.e2e.preflight_sim import example_pools, reader_for, simulated_arm

pytestmark = pytest.mark.e2e


def pinned_only(versions: ApiVersions) -> dict[str, list[str]]:
    """Every simulated type served at exactly the pinned version: a cloud with nothing newer."""

    def version_of(resource_type: str) -> str:
        if resource_type == "Microsoft.Compute/skus":
            return versions.resource_skus
        if resource_type.startswith("Microsoft.Compute/"):
            return versions.compute
        if resource_type.startswith("Microsoft.Network/privateDns"):
            return versions.private_dns
        if resource_type.startswith("Microsoft.ContainerService/"):
            return versions.container_service
        return versions.network

    return {kind: [version_of(kind)] for kind in DEFAULT_SERVED if kind != "Microsoft.Compute/disks"}


def cluster_pool(name: str, cluster_id: str, subnet_id: str = RUNNERS_SUBNET) -> Pool:
    data = pool_dict(name, (name,), cluster={"aks_cluster_id": cluster_id})
    # The private endpoints' reads (network API version) are made at the pinned version too.
    data["private_endpoints"] = [ACR_ID, KEYVAULT_ID]
    data["azure"] |= {"subnet_id": subnet_id, "vm_sizes": ["Standard_D2s_v5"]}
    return Pool.model_validate(data)


async def test_the_preflight_reads_everything_at_the_pinned_versions() -> None:
    """Against a cloud serving only the pinned versions, every network, DNS, AKS and compute read the
    preflight makes succeeds: no client falls back to its SDK's default version."""
    pools = (
        *example_pools(),
        cluster_pool("by-id", AKS_CLUSTER_ID),
        cluster_pool("by-id-int", INT_CLUSTER_ID, INT_SUBNET),  # its own subnet: its NSG opens aks-int
    )
    with simulated_arm("healthy") as arm:
        arm.configure(api_versions=pinned_only(CLOUDS[0].api_versions))
        reader = reader_for(arm)
        try:
            for pool in pools:
                checks = (
                    await run_preflight(pool, reader, pools=pools, settings=DEFAULT_SETTINGS)
                ).report.checks
                assert [c.status for c in checks] == ["pass"] * len(checks), (pool.name, checks)
        finally:
            await reader.close()
        refused = [e for e in arm.request_log() if e.get("error_code") == "NoRegisteredProviderFound"]
        assert refused == []
