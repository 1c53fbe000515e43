"""Webhooks duplicated, redelivered or reordered, messages delivered twice, workers racing: one VM per job."""

from __future__ import annotations

import asyncio

from runner_fleet.adapters.memory.queue import MemoryWorkQueue
from runner_fleet.adapters.memory.state import MemoryStateTable
from runner_fleet.messages import ProvisionRequest, ReleaseRequest, parse_provision
from runner_fleet.ports.queue import PROVISION_QUEUE
from runner_fleet.state.store import FleetState
from runner_fleet.usecases.accept_github_webhook import GitHubIntake
from runner_fleet.usecases.create_runner import ProvisionRetryLater
from runner_fleet.usecases.provision import Provisioner
from runner_fleet.usecases.release import Releaser
from tests.builders import WEBHOOK_SECRET, event, make_pool, make_provisioner, signed
from tests.fakes import FakeCompute, FakeRegistry, YieldingStateTable

POOL = make_pool("aks-prod")


def _setup() -> tuple[GitHubIntake, Provisioner, FakeCompute, MemoryWorkQueue]:
    state, queue, compute = FleetState(MemoryStateTable()), MemoryWorkQueue(), FakeCompute()
    intake = GitHubIntake(WEBHOOK_SECRET.encode(), (POOL,), queue, state)
    provision = make_provisioner(
        {POOL.name: POOL}, state, compute, {"github": FakeRegistry()}, "ssh-ed25519 AAAA"
    )
    return intake, provision, compute, queue


async def _drain(queue: MemoryWorkQueue, provision: Provisioner) -> None:
    for message in await queue.receive(PROVISION_QUEUE, max_messages=32, visibility_timeout_s=60):
        await provision(parse_provision(message.body), message_id=message.id)


async def test_completed_before_queued_was_processed_creates_no_vm() -> None:
    """`completed` (the job ran on another runner) arriving before the job's provision means no VM."""
    intake, provision, compute, queue = _setup()
    await intake.handle(*signed(event("workflow_job.queued.json")))
    completed = event("workflow_job.completed.json")
    await intake.handle(*signed(completed))
    releaser = Releaser({POOL.name: POOL}, provision.state, compute, {"github": FakeRegistry()})
    await releaser(
        ReleaseRequest(
            forge="github",
            pool="aks-prod",
            job_id=completed["workflow_job"]["id"],
            org="example-org",
            runner_name=completed["workflow_job"]["runner_name"],
        )
    )
    await _drain(queue, provision)
    assert compute.created == []


async def test_cancelled_while_queued_creates_no_vm() -> None:
    """A job cancelled before any runner took it gets no VM even if its provision is still queued."""
    intake, provision, compute, queue = _setup()
    await intake.handle(*signed(event("workflow_job.queued.json")))
    await intake.handle(*signed(event("workflow_job.completed_cancelled_unassigned.json")))
    await _drain(queue, provision)
    assert compute.created == []


async def test_duplicates_and_redeliveries_make_one_vm() -> None:
    """The same job announced by a duplicate, a redelivery and a new delivery ID yields one VM."""
    intake, provision, compute, queue = _setup()
    payload = event("workflow_job.queued.json")
    for delivery in ("d-1", "d-1", "d-2", "d-3"):
        await intake.handle(*signed(payload, delivery=delivery))
    await _drain(queue, provision)
    assert len(compute.created) == 1


async def test_a_message_delivered_twice_makes_one_vm() -> None:
    """The same queue message handled twice (at-least-once delivery) creates one VM."""
    _, provision, compute, _ = _setup()
    request = ProvisionRequest(forge="github", pool="aks-prod", job_id=1, org="example-org")
    await provision(request, message_id="same")
    await provision(request, message_id="same")
    assert len(compute.created) == 1


async def test_two_workers_racing_on_one_job_make_one_vm() -> None:
    """Two workers handling two messages for one job at once: one provisions, the other defers."""
    compute = FakeCompute()
    state = FleetState(YieldingStateTable())  # every storage call suspends: the two really interleave
    provision = make_provisioner(
        {POOL.name: POOL}, state, compute, {"github": FakeRegistry()}, "ssh-ed25519 AAAA"
    )
    request = ProvisionRequest(forge="github", pool="aks-prod", job_id=1, org="example-org")
    outcomes = await asyncio.gather(
        provision(request, message_id="a"), provision(request, message_id="b"), return_exceptions=True
    )
    deferred = [o for o in outcomes if isinstance(o, ProvisionRetryLater)]
    assert len(compute.created) == 1
    assert len(deferred) + sum(1 for o in outcomes if getattr(o, "outcome", "") == "already-served") == 1


async def test_a_job_whose_runner_ran_another_job_is_not_lost() -> None:
    """Runner A (made for job 1) runs job 2: after A's release job 1 may be provisioned again."""
    state, compute, registry = FleetState(MemoryStateTable()), FakeCompute(), FakeRegistry()
    provision = make_provisioner({POOL.name: POOL}, state, compute, {"github": registry}, "ssh-ed25519 AAAA")
    runner_a = await provision(
        ProvisionRequest(forge="github", pool="aks-prod", job_id=1, org="o"), message_id="m1"
    )
    assert runner_a.runner_name is not None
    releaser = Releaser({POOL.name: POOL}, state, compute, {"github": registry})
    await releaser(
        ReleaseRequest(forge="github", pool="aks-prod", job_id=2, org="o", runner_name=runner_a.runner_name)
    )
    record = await state.job("github", "1")
    assert record is not None and record.data["state"] == "reaped"
    again = await provision(
        ProvisionRequest(forge="github", pool="aks-prod", job_id=1, org="o"), message_id="m9"
    )
    assert again.outcome == "created"
    done = await state.job("github", "2")
    assert done is not None and done.data["state"] == "done"
