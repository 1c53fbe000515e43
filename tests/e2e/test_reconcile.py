"""The reconciler against the simulators: VMs that never boot, webhooks that never arrive.

The service's timeouts are in real seconds, so the reconciler is given a clock running ahead of
real time instead of making the test wait out a boot timeout.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, replace
from typing import Any

import pytest

from runner_fleet import runtime
from runner_fleet.usecases.reconcile.reconciler import ReconcileReport
from simulator.github import WebhookFaults
from simulator.gitlab import WebhookFaults as GitLabWebhookFaults
from simulator.stack import DEMO_GITLAB_PROJECT_ID, SimulatedCloud
from simulator.testing import eventually
from tests.e2e.demo_jobs import queue_github_job
from tests.e2e.local_service import local_service

pytestmark = pytest.mark.e2e


@dataclass
class Stack:
    cloud: SimulatedCloud
    rt: runtime.Runtime
    ahead_s: float = 0.0

    async def reconcile(self) -> ReconcileReport:
        reconciler = replace(
            self.rt.reconciler(), now=lambda: time.time() + self.ahead_s, confirm_after_s=0.0
        )
        return await reconciler()

    def github_job(self, job_id: int) -> dict[str, Any]:
        return next(j for j in self.cloud.github.jobs() if j["id"] == job_id)


@pytest.fixture
async def stack() -> AsyncIterator[Stack]:
    cloud = SimulatedCloud.start(time_scale=30)
    try:
        async with local_service(cloud) as rt:
            yield Stack(cloud, rt)
    finally:
        cloud.stop()


async def _eventually(probe: Callable[[], Any], within_s: float = 60.0) -> Any:
    return await eventually(probe, within_s=within_s, poll_s=0.2)


async def test_a_vm_that_never_boots_is_reaped_and_its_job_still_runs(stack: Stack) -> None:
    """A never-booting VM is deleted after the boot timeout, and its still-queued job gets a new runner."""
    stack.cloud.arm.configure(never_boot={"count": 1})
    job = await queue_github_job(stack.cloud, "self-hosted", "aks-prod", duration_s=30)
    vm = await _eventually(
        lambda: next(
            (
                v
                for v in stack.cloud.arm.vms()
                if v["tags"].get("job") == str(job["id"]) and v["provisioning_state"] == "Succeeded"
            ),
            None,
        )
    )

    async def provisioned() -> bool:
        record = await stack.rt.state.job("github", str(job["id"]))
        return record is not None and record.data.get("state") == "provisioned"

    await _eventually(provisioned)  # the provision step has let go of the job's lease
    stack.ahead_s = 700  # past the example pool's 600 s boot timeout
    first = await stack.reconcile()
    assert [m["runner"] for m in first.marked] == [vm["name"]]
    assert "never came online" in first.marked[0]["reason"]
    second = await stack.reconcile()
    assert [a["runner"] for a in second.acted] == [vm["name"]]
    assert second.jobs_enqueued == [f"github:{job['id']}"]
    await _runs_to_success(stack, job)
    await _eventually(lambda: not stack.cloud.arm.vms())


async def _queue_with_webhooks_dropped(stack: Stack) -> dict[str, Any]:
    stack.cloud.github.set_faults(WebhookFaults(drop_probability=1.0))
    job = await queue_github_job(stack.cloud, "self-hosted", "aks-dev", "helm", duration_s=30)
    # The positive sign: GitHub tried to deliver the `queued` event and the delivery failed.
    await _eventually(lambda: stack.cloud.github.stats()["webhooks_dropped"] >= 1)
    assert stack.cloud.arm.vms() == []
    return job


async def _runs_to_success(stack: Stack, job: dict[str, Any]) -> None:
    done = await _eventually(
        lambda: stack.github_job(job["id"])["status"] == "completed" and stack.github_job(job["id"])
    )
    assert done["conclusion"] == "success"


async def test_a_failed_github_delivery_is_redelivered(stack: Stack) -> None:
    """A `queued` delivery that failed is redelivered through the App's deliveries API, and the job runs."""
    job = await _queue_with_webhooks_dropped(stack)
    stack.cloud.github.set_faults(WebhookFaults())

    report = await stack.reconcile()  # within the webhook grace: only redelivery may act

    assert (report.redelivered, report.jobs_enqueued) == (1, [])
    await _runs_to_success(stack, job)
    await _eventually(lambda: not stack.cloud.arm.vms())


async def test_a_job_whose_webhook_never_arrives_is_found_by_the_scan(stack: Stack) -> None:
    """With every delivery (redeliveries too) failing, the waiting-job scan enqueues the job, and it runs."""
    job = await _queue_with_webhooks_dropped(stack)
    stack.ahead_s = 60  # past the grace given to the webhook path

    report = await stack.reconcile()

    assert report.jobs_enqueued == [f"github:{job['id']}"]
    await _runs_to_success(stack, job)


async def test_a_missed_completed_webhook_leaves_no_vm(stack: Stack) -> None:
    """If `completed` never arrives, the reconciler deletes the finished runner's VM within two rounds."""
    job = await queue_github_job(stack.cloud, "self-hosted", "aks-prod", duration_s=20)
    await _eventually(lambda: stack.github_job(job["id"])["status"] == "in_progress")
    stack.cloud.github.set_faults(WebhookFaults(drop_probability=1.0))
    await _eventually(lambda: stack.github_job(job["id"])["status"] == "completed")
    assert len(stack.cloud.arm.vms()) == 1
    await stack.reconcile()
    report = await stack.reconcile()
    assert len(report.acted) == 1
    assert stack.cloud.arm.vms() == []


async def test_a_dropped_gitlab_hook_is_recovered(stack: Stack) -> None:
    """A pending GitLab job whose hooks were dropped is found by the reconciler and runs."""
    stack.cloud.gitlab.set_faults(GitLabWebhookFaults(drop_probability=1.0))
    job = await asyncio.to_thread(
        stack.cloud.gitlab.create_job, DEMO_GITLAB_PROJECT_ID, ["aks-prod"], duration_s=30
    )
    # The positive sign: GitLab's `created` and `pending` hooks were both attempted and dropped.
    await _eventually(lambda: stack.cloud.gitlab.stats()["webhooks_dropped"] >= 2)
    assert stack.cloud.arm.vms() == []
    stack.cloud.gitlab.set_faults(GitLabWebhookFaults())
    stack.ahead_s = 60
    report = await stack.reconcile()
    assert report.jobs_enqueued == [f"gitlab:{job['id']}"]
    done = await _eventually(
        lambda: (
            stack.cloud.gitlab.job(job["id"])["status"] in {"success", "failed"}
            and stack.cloud.gitlab.job(job["id"])
        )
    )
    assert done["status"] == "success"
