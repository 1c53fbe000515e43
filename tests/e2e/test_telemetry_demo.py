"""Jobs of both forges through the service on the local host, against the simulators (as the demo runs
them), read back with the OpenTelemetry SDK's in-memory reader and exporter."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest

from runner_fleet import naming, runtime
from runner_fleet.telemetry.traces import JOB_ID, job_trace
from runner_fleet_dev.simulated_jobs import SimulatedJob, simulated_jobs
from simulator.stack import DEMO_GITLAB_PROJECT_ID, SimulatedCloud
from simulator.testing import eventually
from tests.e2e.demo_jobs import REPOSITORY, queue_github_job
from tests.e2e.local_service import local_service
from tests.telemetry import Recorded, recording

pytestmark = pytest.mark.e2e


@dataclass
class Run:
    cloud: SimulatedCloud
    rt: runtime.Runtime
    recorded: Recorded


@pytest.fixture
async def run() -> AsyncIterator[Run]:
    cloud = SimulatedCloud.start(time_scale=40)
    try:
        with recording() as recorded:
            async with local_service(cloud) as rt:
                yield Run(cloud, rt, recorded)
    finally:
        cloud.stop()


def _jobs(cloud: SimulatedCloud) -> list[SimulatedJob]:
    return simulated_jobs(cloud, cloud.gitlab.runners())


async def _run_jobs(run: Run) -> list[SimulatedJob]:
    """Two GitHub jobs (aks-prod, aks-dev) and one GitLab job (gl-aks), run to the end, VMs gone."""
    await queue_github_job(run.cloud, "self-hosted", "aks-prod", duration_s=20)
    await queue_github_job(run.cloud, "self-hosted", "aks-dev", "helm", duration_s=20)
    await asyncio.to_thread(run.cloud.gitlab.create_job, DEMO_GITLAB_PROJECT_ID, ["aks-prod"], duration_s=20)

    async def finished() -> list[SimulatedJob] | None:
        jobs = await asyncio.to_thread(_jobs, run.cloud)
        done = all(job.phase == "done" for job in jobs) and len(jobs) == 3
        return jobs if done and not await asyncio.to_thread(run.cloud.arm.vms) else None

    jobs: list[SimulatedJob] = await eventually(finished, within_s=90, poll_s=0.2, what="the jobs to run")

    async def released() -> bool:
        # The release metrics are written after the VM's delete is accepted.
        return run.recorded.total("runner_fleet.jobs.completed") >= 3

    await eventually(released, within_s=30, poll_s=0.1, what="every release")
    await run.rt.reconcile_round()
    return jobs


async def test_each_job_is_one_trace_from_its_webhook_through_provision_to_release(run: Run) -> None:
    """Every span about a job is in one trace, the job's: its webhooks, its provision steps, its VM
    create and its release, each carrying the job id."""
    jobs = await _run_jobs(run)
    by_job: dict[str, list[str]] = defaultdict(list)
    traces_of: dict[str, set[int]] = defaultdict(set)
    for span in run.recorded.spans():
        job_key = (span.attributes or {}).get(JOB_ID)
        if job_key is not None:
            by_job[str(job_key)].append(span.name)
            traces_of[str(job_key)].add(span.context.trace_id)
    for job in jobs:
        key = str(job.id)
        assert traces_of[key] == {job_trace(job.forge, job.id)[0]}, job
        names = by_job[key]
        assert {f"webhook {job.forge}", "provision", "release"} <= set(names), (job, names)
    spans = {span.context.span_id: span for span in run.recorded.spans()}
    for release in run.recorded.spans("release"):
        parent = spans.get(release.parent.span_id) if release.parent else None
        assert parent is not None and parent.name.startswith("webhook "), release.attributes
    creates = run.recorded.spans("vm.create")
    assert len(creates) >= 3
    assert all(spans[c.parent.span_id].name == "provision" for c in creates if c.parent)


async def test_the_run_is_counted_by_pool_and_forge_with_no_job_or_runner_in_any_attribute(run: Run) -> None:
    """Queued, started and completed per forge and pool, the wait and the startup phases recorded,
    VM time counted at release, the runners gauge and queue depths read from the reconcile round;
    no metric attribute names a job, a runner or a repository."""
    jobs = await _run_jobs(run)
    recorded = run.recorded
    assert recorded.total("runner_fleet.jobs.queued", forge="github") == 2
    assert recorded.total("runner_fleet.jobs.queued", forge="gitlab", pool="") == 1
    assert recorded.total("runner_fleet.jobs.started", forge="github", pool="aks-prod") == 1
    assert recorded.total("runner_fleet.jobs.started", forge="github", pool="aks-dev") == 1
    assert recorded.total("runner_fleet.jobs.started", forge="gitlab", pool="gl-aks") == 1
    assert recorded.total("runner_fleet.job.wait") == 3
    assert recorded.total("runner_fleet.jobs.completed", outcome="success") == 3
    assert recorded.total("runner_fleet.webhooks.accepted", forge="github", queue="provision") >= 4
    assert recorded.total("runner_fleet.webhooks.accepted", forge="gitlab", queue="release") >= 2
    phases = {point.attributes["phase"] for point in recorded.points("runner_fleet.job.startup")}
    # The later phases depend on which comes first, a follow-up reading the VM or the job's start.
    assert {"webhook-to-queue", "queue-to-create"} <= phases
    for pool in ("aks-prod", "aks-dev", "gl-aks"):
        assert recorded.total("runner_fleet.vm.time", pool=pool) > 0, pool
    assert {p.attributes["queue"] for p in recorded.points("runner_fleet.queue.depth")} == {
        "provision",
        "release",
    }
    assert {p.attributes["pool"] for p in recorded.points("runner_fleet.warm.target")} >= {
        "aks-prod",
        "gl-aks",
    }
    values = {str(value) for point in recorded.points() for value in point.attributes.values()}
    runners = {job.runner for job in jobs if job.runner} | {
        naming.runner_name(pool, job.forge, str(job.id))
        for job in jobs
        for pool in ("aks-prod", "aks-dev", "gl-aks")
    }
    assert not values & ({str(job.id) for job in jobs} | runners | {REPOSITORY, f"example-org/{REPOSITORY}"})
