"""A forge that asks us to wait defers the job: no failure, no queue retry spent, nothing held."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from runner_fleet import naming
from runner_fleet.adapters.memory.queue import MemoryWorkQueue
from runner_fleet.adapters.memory.state import MemoryStateTable
from runner_fleet.messages import ProvisionRequest
from runner_fleet.ports.forge import ForgeRateLimited, Registration, RunnerScope
from runner_fleet.ports.queue import PROVISION_QUEUE
from runner_fleet.state.store import FleetState
from runner_fleet.usecases.create_runner import ProvisionRetryLater
from runner_fleet.usecases.provision import Provisioner
from runner_fleet.workers import run_provision
from tests.builders import make_pool, make_provisioner, provision_work
from tests.fakes import FakeCompute, FakeRegistry

POOL = make_pool("aks-prod", ("aks-prod",))
REQUEST = ProvisionRequest(forge="github", pool="aks-prod", job_id=7, org="example-org", labels=("aks-prod",))
NAME = naming.runner_name("aks-prod", "github", "7")


@dataclass
class SpentRegistry(FakeRegistry):
    """GitHub's hourly budget is spent until the reset, 900 s away."""

    async def register(self, scope: RunnerScope, name: str) -> Registration:
        raise ForgeRateLimited(900.0, "GitHub primary rate limit exhausted for installation 1")


@pytest.fixture
def state() -> FleetState:
    return FleetState(MemoryStateTable())


def _provisioner(state: FleetState, compute: FakeCompute) -> Provisioner:
    return make_provisioner(
        {"aks-prod": POOL}, state, compute, {"github": SpentRegistry()}, "ssh-ed25519 AAAA"
    )


async def test_a_rate_limited_registration_defers_the_job(state: FleetState) -> None:
    """The job is retried after the forge's wait; its lease and runner slot are given back, no VM made."""
    compute = FakeCompute()
    with pytest.raises(ProvisionRetryLater) as caught:
        await _provisioner(state, compute)(REQUEST, message_id="m1")
    assert caught.value.delay_s == 900.0
    assert "rate limit" in caught.value.reason
    assert await state.slots("aks-prod") == {}
    assert await state.job("github", "7") is None
    assert compute.created == []


async def test_the_worker_requeues_instead_of_failing(state: FleetState) -> None:
    """The queue function answers "deferred" and sends the message again with the forge's delay."""
    queue = MemoryWorkQueue()
    result = await run_provision(
        REQUEST.to_json(),
        message_id="m1",
        dequeue_count=1,
        work=provision_work(_provisioner(state, FakeCompute()), queue),
        queue=queue,
    )
    assert result is not None and (result.outcome, result.retry_after_s) == ("deferred", 900.0)
    assert await queue.depth(PROVISION_QUEUE) == 1
