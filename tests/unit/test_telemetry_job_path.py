"""Metrics and one trace per job over the real use cases (webhook, provision, start, release), in memory."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import pytest
from opentelemetry.sdk.trace import ReadableSpan

from runner_fleet import naming
from runner_fleet.adapters.memory.queue import MemoryWorkQueue
from runner_fleet.adapters.memory.state import MemoryStateTable
from runner_fleet.cost.metering import Metering
from runner_fleet.messages import PoolRunnerRequest, ProvisionRequest, parse_provision, parse_release
from runner_fleet.ports.queue import PROVISION_QUEUE, RELEASE_QUEUE
from runner_fleet.state.store import FleetState
from runner_fleet.telemetry.traces import JOB_ID, job_trace
from runner_fleet.usecases.accept_github_webhook import GitHubIntake
from runner_fleet.usecases.release import Releaser
from runner_fleet.usecases.replace_runner import RunnerReplacer
from runner_fleet.workers import run_provision
from tests.builders import WEBHOOK_SECRET, event, make_pool, make_provisioner, provision_work, signed
from tests.fakes import FakeCompute, FakeRegistry
from tests.telemetry import Recorded, recording

POOL = make_pool("aks-prod")
QUEUED = event("workflow_job.queued.json")
JOB_ID_VALUE = QUEUED["workflow_job"]["id"]
RUNNER = naming.runner_name(POOL.name, "github", str(JOB_ID_VALUE))


def _about_runner(name: str, action: str, **job: Any) -> dict[str, Any]:
    payload = event(f"workflow_job.{action}.json")
    payload["workflow_job"] |= {"runner_name": name, **job}
    return payload


def _attrs(span: ReadableSpan) -> Mapping[str, Any]:
    return span.attributes or {}


class _Fleet:
    def __init__(self) -> None:
        self.ticks = [0.0]  # the queue's clock: delayed messages show once it is moved on
        self.state, self.queue = FleetState(MemoryStateTable()), MemoryWorkQueue(clock=lambda: self.ticks[0])
        self.compute, self.registry = FakeCompute(), FakeRegistry()
        self.intake = GitHubIntake(WEBHOOK_SECRET.encode(), (POOL,), self.queue, self.state)
        self.provisioner = make_provisioner(
            {POOL.name: POOL}, self.state, self.compute, {"github": self.registry}
        )
        # Ten minutes on the meter's clock, so the VM's time is more than nothing.
        metering = Metering(self.state, now=lambda: time.time() + 600)
        self.releaser = Releaser(
            {POOL.name: POOL}, self.state, self.compute, {"github": self.registry}, metering=metering
        )

    async def provision_queue(self) -> None:
        work = provision_work(self.provisioner, self.queue)
        for message in await self.queue.receive(PROVISION_QUEUE, max_messages=32, visibility_timeout_s=60):
            await run_provision(
                message.body, message_id=message.id, dequeue_count=1, work=work, queue=self.queue
            )
            await self.queue.delete(PROVISION_QUEUE, message)

    async def release_queue(self) -> None:
        for message in await self.queue.receive(RELEASE_QUEUE, max_messages=32, visibility_timeout_s=60):
            request = parse_release(message.body)
            assert request.kind == "release"
            await self.releaser(request)
            await self.queue.delete(RELEASE_QUEUE, message)

    async def run_one_job(self) -> None:
        """Queued, provisioned on its own runner, started 42 s after it was queued, completed."""
        assert (await self.intake.handle(*signed(QUEUED))).status == 202
        await self.provision_queue()
        started = _about_runner(RUNNER, "in_progress", started_at="2026-11-20T10:00:42Z")
        assert (await self.intake.handle(*signed(started))).status == 202
        await self.provision_queue()
        assert (await self.intake.handle(*signed(_about_runner(RUNNER, "completed")))).status == 202
        await self.release_queue()


async def _recorded_job() -> Recorded:
    fleet = _Fleet()
    with recording() as recorded:
        await fleet.run_one_job()
        recorded.points()  # collected while recording is on
        return recorded


async def test_a_job_is_one_trace_from_its_webhook_through_provision_and_vm_create_to_release() -> None:
    """Every span of the job is in the job's trace; provision hangs under the queued webhook, the VM
    create under the provision, the release under the completed webhook; each carries the job id."""
    fleet = _Fleet()
    with recording() as recorded:
        await fleet.run_one_job()
    spans = recorded.spans()
    trace_id, _ = job_trace("github", JOB_ID_VALUE)
    assert {span.context.trace_id for span in spans} == {trace_id}
    webhooks = recorded.spans("webhook github")
    assert [_attrs(span)["runner_fleet.webhook.action"] for span in webhooks] == [
        "queued",
        "in_progress",
        "completed",
    ]
    queued, _, completed = webhooks
    [provision] = recorded.spans("provision")
    [create] = recorded.spans("vm.create")
    [release] = recorded.spans("release")
    assert provision.parent is not None and provision.parent.span_id == queued.context.span_id
    assert create.parent is not None and create.parent.span_id == provision.context.span_id
    assert release.parent is not None and release.parent.span_id == completed.context.span_id
    assert all(_attrs(span)[JOB_ID] == str(JOB_ID_VALUE) for span in (*webhooks, provision, release))
    assert _attrs(create)["runner_fleet.runner"] == RUNNER
    [online] = recorded.spans("runner.online")
    assert _attrs(online)[JOB_ID] == str(JOB_ID_VALUE) and online.context.trace_id == trace_id


async def test_a_job_counts_as_queued_started_and_completed_with_its_wait_and_startup_phases() -> None:
    """One job: queued, started (cold: its own runner) after the forge's 42 s wait, completed with
    success; each startup phase up to the runner online is measured once, the VM's time at release."""
    recorded = await _recorded_job()
    assert recorded.total("runner_fleet.jobs.queued", forge="github", pool="aks-prod") == 1
    assert recorded.total("runner_fleet.jobs.started", forge="github", pool="aks-prod", warm="false") == 1
    [wait] = recorded.points("runner_fleet.job.wait")
    assert (wait.count, wait.value, wait.unit) == (1, 42.0, "s")
    assert recorded.total("runner_fleet.jobs.completed", pool="aks-prod", outcome="success") == 1
    phases = {p.attributes["phase"]: p.count for p in recorded.points("runner_fleet.job.startup")}
    # No round saw the runner idle: it was online when its job started, and no online-to-started.
    assert phases == {
        "webhook-to-queue": 1,
        "queue-to-create": 1,
        "create-to-running": 1,
        "running-to-online": 1,
    }
    assert recorded.total("runner_fleet.webhooks.accepted") == 0  # counted by the HTTP trigger
    assert 590 < recorded.total("runner_fleet.vm.time", pool="aks-prod", spot="false") < 610


async def test_no_metric_attribute_names_a_job_a_runner_or_a_repository() -> None:
    """Metric attributes are pools, forges and codes: the job id, runner name, repository and delivery
    appear on spans only."""
    recorded = await _recorded_job()
    values = {str(v) for point in recorded.points() for v in point.attributes.values()}
    forbidden = {str(JOB_ID_VALUE), RUNNER, QUEUED["repository"]["full_name"], "example-org"}
    assert values and not values & forbidden
    assert set().union(*(point.attributes for point in recorded.points())) <= {
        "forge",
        "pool",
        "warm",
        "outcome",
        "phase",
        "spot",
    }


async def test_a_message_without_a_traceparent_still_joins_its_jobs_trace() -> None:
    """A provision written before messages carried `traceparent` (or enqueued by the reconciler)
    hangs under the job's own root: the same trace as the job's webhooks."""
    fleet = _Fleet()
    old = ProvisionRequest(forge="github", pool="aks-prod", job_id=JOB_ID_VALUE, org="example-org")
    assert old.traceparent is None and '"traceparent":null' in old.to_json()
    legacy = old.to_json().replace(',"traceparent":null', "")
    with recording() as recorded:
        await fleet.provisioner(parse_provision(legacy), message_id="m-old")
    [provision] = recorded.spans("provision")
    trace_id, root = job_trace("github", JOB_ID_VALUE)
    assert provision.context.trace_id == trace_id
    assert provision.parent is not None and (provision.parent.span_id, provision.parent.is_remote) == (
        root,
        True,
    )


async def test_a_follow_up_continues_the_trace_from_the_provision_step_before_it() -> None:
    """A create in flight sends a follow-up carrying the provision span's traceparent; the follow-up's
    provision span is that span's child."""
    fleet = _Fleet()
    fleet.compute.provisioning[RUNNER] = "Creating"
    with recording() as recorded:
        assert (await fleet.intake.handle(*signed(QUEUED))).status == 202
        await fleet.provision_queue()  # sends the PUT, and the follow-up with a delay
        fleet.compute.provisioning[RUNNER] = "Succeeded"
        fleet.ticks[0] += 3600
        [message] = await fleet.queue.receive(PROVISION_QUEUE, max_messages=8, visibility_timeout_s=60)
        follow_up = parse_provision(message.body)
        await fleet.provisioner(follow_up, message_id=message.id)
    first, second = recorded.spans("provision")
    assert second.parent is not None and second.parent.span_id == first.context.span_id
    assert _attrs(second)["runner_fleet.follow_up"] is True
    phases = {p.attributes["phase"] for p in recorded.points("runner_fleet.job.startup")}
    assert "create-to-running" in phases


async def test_telemetry_off_records_nothing_and_messages_carry_no_traceparent() -> None:
    """Without an exporter (the default) the same job leaves no span, and its messages no traceparent."""
    fleet = _Fleet()
    with recording() as recorded:
        pass
    await fleet.intake.handle(*signed(QUEUED))
    [message] = await fleet.queue.receive(PROVISION_QUEUE, max_messages=8, visibility_timeout_s=60)
    assert parse_provision(message.body).traceparent is None
    assert recorded.spans() == []


async def test_a_warm_runner_seen_idle_measures_its_boot_and_its_wait_for_a_job() -> None:
    """A pool runner built at T, seen idle by a round at T+50, takes a job at T+80: a warm start,
    50 s running-to-online and 30 s online-to-started, and a `runner.online` span in the job's trace."""
    clock = [1_800_000_000.0]
    fleet = _Fleet()
    provisioner = make_provisioner(
        {POOL.name: POOL}, fleet.state, fleet.compute, {"github": fleet.registry}, now=lambda: clock[0]
    )
    replacer = RunnerReplacer({POOL.name: POOL}, fleet.state, fleet.queue, now=lambda: clock[0])
    name = naming.pool_runner_name(POOL.name, "github", "w1")
    with recording() as recorded:
        pool_runners = provision_work(provisioner, fleet.queue).pool_provisioner
        await pool_runners(PoolRunnerRequest(forge="github", pool=POOL.name, key="w1"), message_id="m-w1")
        await fleet.state.mark_idle(name, clock[0] + 50)
        clock[0] += 80
        outcome = await replacer(
            "github", POOL.name, name, 4242, job_queued_at=clock[0] - 12.5, job_started_at=clock[0]
        )
        assert outcome in {"replacing", "no-warm-target"}
        phases = {p.attributes["phase"]: p.value for p in recorded.points("runner_fleet.job.startup")}
        [wait] = recorded.points("runner_fleet.job.wait")
    assert phases == {"create-to-running": 0.0, "running-to-online": 50.0, "online-to-started": 30.0}
    assert (wait.attributes["warm"], wait.value) == ("true", 12.5)
    [online] = recorded.spans("runner.online")
    assert online.context.trace_id == job_trace("github", 4242)[0]
    assert online.end_time is not None and online.start_time is not None
    assert (online.end_time - online.start_time) / 1e9 == pytest.approx(50.0)
