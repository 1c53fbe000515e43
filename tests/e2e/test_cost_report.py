"""Cost through the real runtime and the simulators: a released job writes one priced usage row in the
state table (Azurite), and `runner-fleet report --json`, a process of its own, reports it."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import runner_fleet
from runner_fleet import naming
from runner_fleet.cost.prices import PriceBook
from runner_fleet.messages import ReleaseRequest
from runner_fleet.state.usage import UsageLog
from runner_fleet_dev.simulated import simulated_runtime
from simulator.stack import DEMO_INSTALLATION_ID, DEMO_ORG, SimulatedCloud
from simulator.testing import eventually
from tests.azurite import Azurite, azurite_session
from tests.e2e.demo_jobs import REPOSITORY, provision_request, queue_github_job

pytestmark = pytest.mark.e2e

EXAMPLE_POOLS = Path(runner_fleet.__file__).parent / "defaults" / "example-pools.yaml"


@pytest.fixture(scope="module")
def azurite() -> Iterator[Azurite]:
    yield from azurite_session()


@pytest.fixture
def cloud() -> Iterator[SimulatedCloud]:
    cloud = SimulatedCloud.start(time_scale=40)
    yield cloud
    cloud.stop()


async def test_a_released_job_is_one_priced_usage_row_and_report_shows_it(
    azurite: Azurite, cloud: SimulatedCloud
) -> None:
    """Provisioned, started and released through the real runtime: one usage row priced from the shipped
    table (a repeated release adds none), and `report --json` counts the job, its wait and its cost."""
    rt = simulated_runtime(cloud, {"AzureWebJobsStorage": azurite.connection_string})
    try:
        job = await queue_github_job(cloud, "aks-prod", duration_s=120)
        await rt.provisioner()(provision_request(job, "aks-prod"), message_id="m-1")
        name = naming.runner_name("aks-prod", "github", str(job["id"]))

        async def status() -> str:
            jobs = await asyncio.to_thread(cloud.github.jobs)
            return str(next(j["status"] for j in jobs if j["id"] == job["id"]))

        async def started() -> bool:
            return await status() in {"in_progress", "completed"}

        await eventually(started, within_s=60, poll_s=0.05, what="the job to start on its runner")
        # What the worker does with the RunnerStarted message GitHub's `in_progress` webhook leads to.
        await rt.replacer()("github", "aks-prod", name, job["id"])

        async def completed() -> bool:
            return await status() == "completed"

        await eventually(completed, within_s=60, poll_s=0.05, what="the job to complete")
        request = ReleaseRequest(
            forge="github",
            pool="aks-prod",
            job_id=job["id"],
            org=DEMO_ORG,
            repository=f"{DEMO_ORG}/{REPOSITORY}",
            installation_id=DEMO_INSTALLATION_ID,
            runner_name=name,
            conclusion="success",
        )
        usage = (await rt.releaser()(request)).usage
        assert usage is not None
        assert (usage.runner, usage.pool, usage.job) == (name, "aks-prod", str(job["id"]))
        assert (usage.size, usage.spot, usage.location) == ("Standard_D2ads_v5", False, "westeurope")
        price = PriceBook().hourly("Standard_D2ads_v5", "westeurope", spot=False)
        assert (usage.price_source, usage.currency, usage.price_per_hour) == (
            "shipped",
            "USD",
            price.per_hour,
        )
        assert usage.cost == price.cost(usage.vm_seconds) and usage.cost is not None and usage.cost > 0
        assert usage.busy_seconds is not None and 0 < usage.busy_seconds <= usage.vm_seconds
        assert usage.wait_s is not None and usage.wait_s >= 0
        # The release again (a redelivered message): the VM is deleting or gone, no second row.
        assert (await rt.releaser()(request)).usage is None
        assert await UsageLog(rt.table).since(time.time() - 3600) == [usage]
    finally:
        await rt.aclose()

    report = await asyncio.to_thread(_report_json, cloud, azurite)
    [pool] = [p for p in report["pools"] if p["pool"] == "aks-prod"]
    assert (pool["jobs"], pool["runners"], pool["waits"], pool["currency"]) == (1, 1, 1, "USD")
    assert pool["cost"] == round(usage.cost, 4)
    assert pool["wait_p50_s"] == round(usage.wait_s, 1)
    assert pool["busy_hours"] + pool["idle_hours"] == pytest.approx(pool["vm_hours"], abs=2e-4)
    assert report["total"]["jobs"] == 1
    assert report["prices"] == {"admin": False, "shipped_as_of": "2025-01-01"}


def _report_json(cloud: SimulatedCloud, azurite: Azurite) -> dict[str, Any]:
    env = {
        **{
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("RUNNER_", "GITHUB_", "GITLAB_", "AzureWeb"))
        },
        **cloud.service_environment(),
        "AzureWebJobsStorage": azurite.connection_string,
        "RUNNER_POOLS_FILE": str(EXAMPLE_POOLS),
    }
    done = subprocess.run(
        [sys.executable, "-m", "runner_fleet.cli", "report", "--json", "--since", "1h"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    data: dict[str, Any] = json.loads(done.stdout)
    return data
