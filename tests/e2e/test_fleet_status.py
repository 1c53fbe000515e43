"""`runner-fleet status` against the simulators, through the real SDKs: the row of a pool while its
job runs and another waits, then after the job's release, and the command's JSON and exit code."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import pytest

from runner_fleet import naming, runtime
from runner_fleet.adapters.azure.credentials import StaticTokenCredential
from runner_fleet.cli import main
from runner_fleet.cli import status as status_cli
from runner_fleet.messages import ReleaseRequest
from runner_fleet.state.usage import Usage
from runner_fleet.usecases.fleet_status import FleetStatus, PoolStatus
from runner_fleet_dev.simulated import simulated_runtime
from simulator.stack import DEMO_INSTALLATION_ID, DEMO_ORG, SimulatedCloud
from simulator.testing import eventually
from tests.e2e.demo_jobs import REPOSITORY, provision_request, queue_github_job

pytestmark = pytest.mark.e2e

POOL = "aks-prod"


@pytest.fixture
def cloud() -> Iterator[SimulatedCloud]:
    cloud = SimulatedCloud.start(time_scale=40)
    yield cloud
    cloud.stop()


def row(status: FleetStatus, pool: str = POOL) -> PoolStatus:
    return next(p for p in status.pools if p.pool == pool)


def states(busy: int = 0) -> dict[str, int]:
    return {"creating": 0, "booting": 0, "idle": 0, "busy": busy, "retiring": 0}


def test_status_shows_the_pool_that_runs_a_job_then_its_wait_and_cost(
    cloud: SimulatedCloud, capsys: pytest.CaptureFixture[str]
) -> None:
    """While a job runs on aks-prod and a second one waits, its row shows one runner busy, one job
    waiting and the running job's wait; after the release, no runner, the usage row's wait and cost;
    `status --json` says so too, and exits 1 because aks-ops fails its preflight (dns-link)."""
    rt = simulated_runtime(cloud, {})
    running, released, usage = asyncio.run(_run_a_job(cloud, rt))

    busy = row(running)
    assert (dict(busy.runners), busy.waiting) == (states(busy=1), 1)
    assert busy.preflight is not None and busy.preflight.status == "pass"
    assert len(busy.waits) == 1  # the running job's, from its start
    done = row(released)
    assert (dict(done.runners), done.waiting) == (states(), 1)
    assert usage.wait_s is not None and usage.cost is not None
    assert done.waits == (usage.wait_s,)
    ops = row(released, "aks-ops")
    assert ops.preflight is not None and "dns-link" in ops.preflight.failing
    assert released.exit_code == 1

    # The command itself, a runtime of its own over the same state table (as another process would be).
    command = _runtime_sharing(cloud, rt)
    runtime.install(command)
    capsys.readouterr()  # what the service logged so far
    try:
        code = main(["status", "--json"])
    finally:
        runtime.install(None)
    data: dict[str, Any] = json.loads(capsys.readouterr().out)
    assert code == 1 and data["ok"] is False
    [pool] = [p for p in data["pools"] if p["pool"] == POOL]
    assert (pool["runners"], pool["waiting"]) == (states(), 1)
    assert (pool["wait_p50_s"], pool["wait_p95_s"], pool["waits"]) == (
        round(usage.wait_s, 1),
        round(usage.wait_s, 1),
        1,
    )
    assert (pool["cost_today"], pool["currency"], pool["released_today"]) == (
        round(usage.cost, 4),
        "USD",
        1,
    )
    assert data["total"]["pools_failing"] == 1


async def _run_a_job(cloud: SimulatedCloud, rt: runtime.Runtime) -> tuple[FleetStatus, FleetStatus, Usage]:
    """Job 1 provisioned, started and (once the status is read) released; job 2 left queued."""
    try:
        job = await queue_github_job(cloud, POOL, duration_s=120)
        await rt.provisioner()(provision_request(job, POOL), message_id="m-1")
        name = naming.runner_name(POOL, "github", str(job["id"]))

        async def job_status() -> str:
            jobs = await asyncio.to_thread(cloud.github.jobs)
            return str(next(j["status"] for j in jobs if j["id"] == job["id"]))

        async def started() -> bool:
            return await job_status() in {"in_progress", "completed"}

        await eventually(started, within_s=60, poll_s=0.05, what="the job to start on its runner")
        # What the worker does with the RunnerStarted message GitHub's `in_progress` webhook leads to.
        await rt.replacer()("github", POOL, name, job["id"])
        # A second job, which no webhook announces: it waits (the first runner is taken).
        await queue_github_job(cloud, POOL, duration_s=30)
        running = await status_cli.read(rt)

        async def completed() -> bool:
            return await job_status() == "completed"

        await eventually(completed, within_s=60, poll_s=0.05, what="the job to complete")
        release = ReleaseRequest(
            forge="github",
            pool=POOL,
            job_id=job["id"],
            org=DEMO_ORG,
            repository=f"{DEMO_ORG}/{REPOSITORY}",
            installation_id=DEMO_INSTALLATION_ID,
            runner_name=name,
            conclusion="success",
        )
        usage = (await rt.releaser()(release)).usage
        assert usage is not None
        readings: list[FleetStatus] = []

        async def no_runner_left() -> bool:
            readings.append(await status_cli.read(rt))
            return sum(row(readings[-1]).runners.values()) == 0

        await eventually(no_runner_left, within_s=60, poll_s=0.1, what="the runner's VM to be gone")
        return running, readings[-1], usage
    finally:
        await rt.aclose()


def _runtime_sharing(cloud: SimulatedCloud, rt: runtime.Runtime) -> runtime.Runtime:
    """A runtime built as `simulated_runtime` builds one, over `rt`'s in-memory queue and table."""
    return runtime.build_runtime(
        cloud.service_environment(),
        storage=(rt.queue, rt.table),
        example_pools=True,
        credential=StaticTokenCredential,
        polling_interval_s=0.5,
    )
