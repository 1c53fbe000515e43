"""`runners` lists what exists in Azure and on GitHub, from the simulators through the real SDKs."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from runner_fleet import naming
from runner_fleet.forges import Forge
from runner_fleet.ports.forge import RunnerRegistry
from runner_fleet.runtime import Runtime
from runner_fleet.usecases.list_runners import list_runners
from runner_fleet_dev.simulated import simulated_runtime
from simulator.stack import SimulatedCloud
from simulator.testing import eventually
from tests.e2e.demo_jobs import provision_request, queue_github_job

pytestmark = pytest.mark.e2e


@pytest.fixture
def cloud() -> Iterator[SimulatedCloud]:
    cloud = SimulatedCloud.start(time_scale=40)
    yield cloud
    cloud.stop()


async def test_a_provisioned_runner_is_listed_then_gone_after_release(cloud: SimulatedCloud) -> None:
    """A provisioned runner is listed with its VM and registration; after release nothing is."""
    rt: Runtime = simulated_runtime(cloud, {})
    try:
        # No webhook is connected: the provision alone serves the job, once GitHub says it is queued.
        job = await queue_github_job(cloud, "aks-prod", duration_s=40)
        result = await rt.provisioner()(provision_request(job, "aks-prod"), message_id="m-1")
        name = naming.runner_name("aks-prod", "github", str(job["id"]))
        assert result.runner_name == name
        [row] = await list_runners(rt.pools, rt.compute, _registries(rt))
        assert (row.name, row.pool, row.forge, row.job) == (name, "aks-prod", "github", str(job["id"]))
        assert row.vm.startswith(("Creating", "Succeeded"))  # the provision returned after the PUT

        async def built() -> bool:
            [row] = await list_runners(rt.pools, rt.compute, _registries(rt))
            return row.vm.startswith("Succeeded")

        await eventually(built, within_s=30, poll_s=0.05, what="the VM to be built")
        assert row.registration in {"offline", "online"}

        async def ran() -> bool:
            jobs = await asyncio.to_thread(cloud.github.jobs)
            return any(j["status"] == "completed" for j in jobs)

        assert await eventually(ran, within_s=30, poll_s=0.05, what="the job to complete")
        # The JIT runner removed itself; only the powered-off VM remains until a release.
        [row] = await list_runners(rt.pools, rt.compute, _registries(rt))
        assert row.registration == "absent"
        assert await rt.compute.delete_vm(rt.pools_by_name["aks-prod"], name)
        assert await list_runners(rt.pools, rt.compute, _registries(rt)) == []
    finally:
        await rt.aclose()


def _registries(rt: Runtime) -> dict[Forge, RunnerRegistry]:
    return {forge: rt.registry(forge) for forge in {pool.forge for pool in rt.pools}}
