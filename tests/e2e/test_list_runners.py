"""`runners` lists what exists in Azure and on GitHub, from the simulators through the real SDKs."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from runner_fleet import naming
from runner_fleet.cli.simulated import simulated_runtime
from runner_fleet.messages import ProvisionRequest
from runner_fleet.ports.forge import RunnerRegistry
from runner_fleet.runtime import Runtime
from runner_fleet.usecases.list_runners import list_runners
from simulator.stack import DEMO_INSTALLATION_ID, SimulatedCloud

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
        job = await asyncio.to_thread(
            cloud.github.queue_job, "example-org", "platform-deploy", ["aks-prod"], duration_s=40
        )
        request = ProvisionRequest(
            forge="github",
            pool="aks-prod",
            job_id=job["id"],
            org="example-org",
            repository="example-org/platform-deploy",
            installation_id=DEMO_INSTALLATION_ID,
        )
        result = await rt.provisioner()(request, message_id="m-1")
        name = naming.runner_name("aks-prod", "github", str(job["id"]))
        assert result.runner_name == name
        rows = await list_runners(rt.pools, rt.compute, _registries(rt))
        [row] = rows
        assert (row.name, row.pool, row.forge, row.job) == (name, "aks-prod", "github", str(job["id"]))
        assert row.vm.startswith("Succeeded")
        assert row.registration in {"offline", "online"}

        async def ran() -> bool:
            jobs = await asyncio.to_thread(cloud.github.jobs)
            return any(j["status"] == "completed" for j in jobs)

        for _ in range(200):
            if await ran():
                break
            await asyncio.sleep(0.05)
        assert await ran()
        # The JIT runner removed itself; only the powered-off VM remains until a release.
        [row] = await list_runners(rt.pools, rt.compute, _registries(rt))
        assert row.registration == "absent"
        assert await rt.compute.delete_vm(rt.pools_by_name["aks-prod"], name)
        assert await list_runners(rt.pools, rt.compute, _registries(rt)) == []
    finally:
        await rt.aclose()


def _registries(rt: Runtime) -> dict[str, RunnerRegistry]:
    return {forge: rt.registry(forge) for forge in {pool.forge for pool in rt.pools}}
