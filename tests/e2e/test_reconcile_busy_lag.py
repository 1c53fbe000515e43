"""A runner retired at its idle timeout just as it takes a job: GitHub's `busy` still reads false.

GitHub's REST `busy` lags a job's assignment by 25-60 s and more (terraform-aws-github-runner#5085,
#5228), and the simulator reproduces the lag; here it is stretched to 600 simulated seconds so the
reconcile round surely falls inside it. The round must leave the runner to run its job: on the
job start its webhook reported, or, when that webhook was lost, on GitHub refusing to delete a
runner that has a job.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, replace
from typing import Any, Literal

import pytest

from runner_fleet import runtime
from runner_fleet.messages import PoolRunnerRequest
from runner_fleet.ports.queue import PROVISION_QUEUE
from runner_fleet.state.runner_starts import RunnerStarts
from runner_fleet.usecases.reconcile.reconciler import ReconcileReport
from runner_fleet.usecases.reconcile.rules import START_GUARD_S
from simulator.github import WebhookFaults
from simulator.stack import SimulatedCloud, demo_github_config
from simulator.testing import eventually
from tests.e2e.demo_jobs import queue_github_job
from tests.e2e.local_service import local_service

pytestmark = pytest.mark.e2e

POOL = "aks-prod"  # warm 0, idle timeout 600 s: an idle runner of it is retired


@dataclass
class Stack:
    cloud: SimulatedCloud
    rt: runtime.Runtime

    async def reconcile(self) -> ReconcileReport:
        return await replace(self.rt.reconciler(), confirm_after_s=0.0)()

    def runner(self, name: str) -> dict[str, Any] | None:
        return next((r for r in self.cloud.github.runners() if r["name"] == name), None)

    def job(self, job_id: int) -> dict[str, Any]:
        return next(j for j in self.cloud.github.jobs() if j["id"] == job_id)


async def _stack(delete_checks: Literal["assignment", "reported_busy"]) -> AsyncIterator[Stack]:
    config = demo_github_config(busy_lag_s=(600.0, 600.0), delete_checks=delete_checks)
    cloud = SimulatedCloud.start(time_scale=30, github_config=config)
    try:
        async with local_service(cloud) as rt:
            yield Stack(cloud, rt)
    finally:
        cloud.stop()


@pytest.fixture
async def deletes_by_flag() -> AsyncIterator[Stack]:
    """DELETE goes by the lagging flag and succeeds during the lag, as #5228 saw it do."""
    async for stack in _stack("reported_busy"):
        yield stack


@pytest.fixture
async def deletes_by_assignment() -> AsyncIterator[Stack]:
    """DELETE refuses a runner that has a job (422), whatever the flag says."""
    async for stack in _stack("assignment"):
        yield stack


async def _eventually(probe: Callable[[], Any], within_s: float = 60.0) -> Any:
    return await eventually(probe, within_s=within_s, poll_s=0.2)


async def _suspect_at_idle_timeout(stack: Stack) -> str:
    """An idle pool runner, online, that the reconciler has marked for retirement."""
    request = PoolRunnerRequest(forge="github", pool=POOL, key="e2e-lag")
    await stack.rt.queue.send(PROVISION_QUEUE, request.to_json())
    runner = await _eventually(
        lambda: next(
            (
                r
                for r in stack.cloud.github.runners()
                if r["status"] == "online" and not r["busy"] and not r["removed"]
            ),
            None,
        )
    )
    name = str(runner["name"])
    await _eventually(lambda: _made(stack, name))  # its provision has let go of the claim
    await stack.reconcile()  # first seen idle
    # Idle since long before: the timeout is 600 s, and the test does not wait it out.
    await stack.rt.state.mark_idle(name, time.time() - 700)
    marked = await stack.reconcile()
    assert [(m["runner"], m["action"]) for m in marked.marked] == [(name, "retire")]
    return name


async def _takes_a_job(stack: Stack, name: str) -> dict[str, Any]:
    job = await queue_github_job(stack.cloud, "self-hosted", POOL, duration_s=900)
    await _eventually(lambda: stack.job(job["id"])["runner_name"] == name)
    runner = stack.runner(name)
    assert runner is not None and runner["busy"] and not runner["reported_busy"]  # inside the lag
    return job


async def _runs_to_success(stack: Stack, job: dict[str, Any]) -> None:
    done = await _eventually(lambda: stack.job(job["id"])["status"] == "completed" and stack.job(job["id"]))
    assert done["conclusion"] == "success"


async def test_the_reported_start_saves_a_runner_github_would_let_go(deletes_by_flag: Stack) -> None:
    """With DELETE allowed during the lag, the job start its webhook reported keeps the runner and its job."""
    stack = deletes_by_flag
    name = await _suspect_at_idle_timeout(stack)
    job = await _takes_a_job(stack, name)
    starts = RunnerStarts(stack.rt.table)
    await _eventually(lambda: _noted(starts, name))  # the in_progress webhook reached the service

    report = await stack.reconcile()

    assert [a for a in report.acted if a["runner"] == name] == []
    assert name in report.recovered
    assert any(vm["name"] == name for vm in stack.cloud.arm.vms())
    assert stack.runner(name) is not None and not stack.runner(name)["removed"]  # type: ignore[index]
    await _runs_to_success(stack, job)


async def test_without_the_start_webhook_the_refused_delete_saves_the_runner(
    deletes_by_assignment: Stack,
) -> None:
    """With every webhook lost, GitHub refusing to delete a runner with a job keeps its VM; the job runs."""
    stack = deletes_by_assignment
    name = await _suspect_at_idle_timeout(stack)
    stack.cloud.github.set_faults(WebhookFaults(drop_probability=1.0))
    job = await _takes_a_job(stack, name)

    report = await stack.reconcile()

    assert [(a["runner"], a["outcome"]) for a in report.acted] == [(name, "left alone: runner became busy")]
    assert any(vm["name"] == name for vm in stack.cloud.arm.vms())
    await _runs_to_success(stack, job)


async def _made(stack: Stack, name: str) -> bool:
    return name not in await stack.rt.state.active_leases("github", time.time())


async def _noted(starts: RunnerStarts, name: str) -> bool:
    return name in await starts.started_since("github", time.time(), START_GUARD_S)
