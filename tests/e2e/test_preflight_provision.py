"""The guard in provisioning, end to end: a job for a pool failing its preflight gets no VM and waits
in the queue; once the missing zone link exists the same job is provisioned and runs."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from runner_fleet import workers
from runner_fleet.adapters.azure.credentials import StaticTokenCredential
from runner_fleet.adapters.memory.queue import MemoryWorkQueue
from runner_fleet.cli.doctor import diagnose
from runner_fleet.ports.queue import PROVISION_QUEUE
from runner_fleet.preflight.factory import azure_reader_factory
from runner_fleet.preflight.gate import AzurePreflightGate
from runner_fleet_dev.simulated import simulated_runtime
from simulator.stack import SimulatedCloud
from simulator.testing import eventually
from tests.builders import DEFAULT_SETTINGS
from tests.e2e.demo_jobs import provision_request, queue_github_job

pytestmark = pytest.mark.e2e


@pytest.fixture
def cloud() -> Iterator[SimulatedCloud]:
    cloud = SimulatedCloud.start(time_scale=40)  # the default (demo) topology: vnet-ops is not linked
    yield cloud
    cloud.stop()


async def test_a_job_for_a_refused_pool_waits_and_runs_once_the_link_exists(cloud: SimulatedCloud) -> None:
    """Deferred with no VM and no registration, kept in the queue; after the fix, served and run."""
    rt = simulated_runtime(cloud, {})
    try:
        job = await queue_github_job(cloud, "self-hosted", "aks-ops", duration_s=5)
        body = provision_request(job, "aks-ops").model_dump_json()
        queue = rt.queue
        assert isinstance(queue, MemoryWorkQueue)

        first = await workers.run_provision(
            body, message_id="m-1", dequeue_count=1, work=rt.provision_work(), queue=queue
        )
        assert first is not None and first.outcome == "deferred"
        assert queue.bodies(PROVISION_QUEUE) == [body]
        assert await asyncio.to_thread(cloud.arm.vms) == []
        assert await asyncio.to_thread(cloud.github.runners) == []

        reader = azure_reader_factory(rt.settings, credential=StaticTokenCredential, polling_interval_s=0.1)()
        try:
            fixed = await diagnose([rt.pools_by_name["aks-ops"]], reader, fix=True, settings=DEFAULT_SETTINGS)
        finally:
            await reader.close()
        assert [(f.created, f.fix.name) for f in fixed.fixes] == [(True, "link-vnet-ops")] and fixed.ok
        gate = rt.preflight
        assert isinstance(gate, AzurePreflightGate)
        gate.invalidate("aks-ops")  # or wait for the cache to expire

        [deferred] = queue.bodies(PROVISION_QUEUE)
        second = await workers.run_provision(
            deferred, message_id="m-2", dequeue_count=1, work=rt.provision_work(), queue=queue
        )
        # The PUT is sent; the follow-up that reads the VM waits in the queue, holding no worker.
        assert second is not None and second.outcome == "creating" and second.follow_up

        async def completed() -> bool:
            jobs = await asyncio.to_thread(cloud.github.jobs)
            return any(j["id"] == job["id"] and j["status"] == "completed" for j in jobs)

        assert await eventually(completed, within_s=30, poll_s=0.05, what="the job to complete")
        [vm] = await asyncio.to_thread(cloud.arm.vms)
        assert vm["tags"]["pool"] == "aks-ops" and vm["api_server_check"] == "passed"
    finally:
        await rt.aclose()
