"""A pool at max runners makes jobs wait (never drops them); sizes and spot fall back in order."""

from __future__ import annotations

import pytest

from runner_fleet.adapters.memory.queue import MemoryWorkQueue
from runner_fleet.adapters.memory.state import MemoryStateTable
from runner_fleet.messages import ProvisionRequest, ReleaseRequest, parse_provision
from runner_fleet.ports.forge import Registration, RunnerScope
from runner_fleet.ports.queue import PROVISION_QUEUE
from runner_fleet.state.store import FleetState
from runner_fleet.usecases.create_runner import ALL_FAILED_RETRY_S, ProvisionRetryLater
from runner_fleet.usecases.provision import Provisioner
from runner_fleet.usecases.release import Releaser
from runner_fleet.workers import run_provision
from tests.builders import make_pool, make_provisioner, provision_work
from tests.fakes import FakeCompute, FakeRegistry

SMALL = make_pool("small", limits={"max_runners": 1})
SIZES = make_pool("sizes", azure={"vm_sizes": ["Standard_D2ads_v5", "Standard_D4ads_v5", "Standard_D2s_v5"]})
SPOT = make_pool("spot", azure={"vm_sizes": ["Standard_D2ads_v5", "Standard_D4ads_v5"], "spot": True})
SPOT_ONLY = make_pool("spot-only", azure={"spot": True, "spot_fallback_to_on_demand": False})


def _request(pool: str, job_id: int) -> ProvisionRequest:
    return ProvisionRequest(forge="github", pool=pool, job_id=job_id, org="example-org")


@pytest.fixture
def parts() -> tuple[FakeCompute, FakeRegistry, FleetState]:
    return FakeCompute(), FakeRegistry(), FleetState(MemoryStateTable())


def _provisioner(parts: tuple[FakeCompute, FakeRegistry, FleetState]) -> Provisioner:
    compute, registry, state = parts
    pools = {p.name: p for p in (SMALL, SIZES, SPOT, SPOT_ONLY)}
    return make_provisioner(pools, state, compute, {"github": registry}, "ssh-ed25519 AAAA")


async def test_a_full_pool_defers_the_job_and_serves_it_when_a_runner_frees(
    parts: tuple[FakeCompute, FakeRegistry, FleetState],
) -> None:
    """At max runners the job waits (deferred, lease given back); after a release it gets its runner."""
    compute, registry, state = parts
    provision = _provisioner(parts)
    first = await provision(_request("small", 1), message_id="m1")
    with pytest.raises(ProvisionRetryLater) as waiting:
        await provision(_request("small", 2), message_id="m2")
    assert waiting.value.reason == "pool at max runners"
    assert len(compute.created) == 1 and len(registry.registrations) == 1
    assert await state.job("github", "2") is None  # the lease was given back

    releaser = Releaser({"small": SMALL}, state, compute, {"github": registry})
    assert first.runner_name is not None
    await releaser(
        ReleaseRequest(
            forge="github", pool="small", job_id=1, org="example-org", runner_name=first.runner_name
        )
    )
    second = await provision(_request("small", 2), message_id="m3")  # the deferred message, redelivered
    assert second.outcome == "created"


async def test_waiting_at_capacity_does_not_burn_queue_retries(
    parts: tuple[FakeCompute, FakeRegistry, FleetState],
) -> None:
    """The worker re-enqueues a delayed copy and completes the message, so its dequeue count is untouched."""
    queue = MemoryWorkQueue()
    provision = _provisioner(parts)
    await provision(_request("small", 1), message_id="m1")
    result = await run_provision(
        _request("small", 2).to_json(),
        message_id="m2",
        dequeue_count=1,
        work=provision_work(provision, queue),
        queue=queue,
    )
    assert result is not None and result.outcome == "deferred"
    assert await queue.depth(PROVISION_QUEUE) == 1
    assert await queue.receive(PROVISION_QUEUE, max_messages=1, visibility_timeout_s=5) == []  # delayed


async def test_sizes_are_tried_in_order(parts: tuple[FakeCompute, FakeRegistry, FleetState]) -> None:
    """SkuNotAvailable on the first size and AllocationFailed on the second lead to the third."""
    compute = parts[0]
    compute.reject = {
        ("Standard_D2ads_v5", False): "SkuNotAvailable",
        ("Standard_D4ads_v5", False): "AllocationFailed",
    }
    result = await _provisioner(parts)(_request("sizes", 3), message_id="m")
    assert result.outcome == "created"
    assert compute.attempts == [
        ("Standard_D2ads_v5", False),
        ("Standard_D4ads_v5", False),
        ("Standard_D2s_v5", False),
    ]
    assert compute.vms[compute.created[0]].size == "Standard_D2s_v5"


async def test_spot_falls_back_to_on_demand(parts: tuple[FakeCompute, FakeRegistry, FleetState]) -> None:
    """Spot refused for every size (quota) falls back to on-demand, in size order."""
    compute = parts[0]
    compute.reject = {
        ("Standard_D2ads_v5", True): "OperationNotAllowed",
        ("Standard_D4ads_v5", True): "ZonalAllocationFailed",
    }
    await _provisioner(parts)(_request("spot", 4), message_id="m")
    assert compute.attempts[-1] == ("Standard_D2ads_v5", False)
    assert compute.vms[compute.created[0]].spot is False


async def test_no_fallback_when_every_option_is_refused(
    parts: tuple[FakeCompute, FakeRegistry, FleetState],
) -> None:
    """When every size and priority is refused, runner, slot and lease are released and the job is
    tried again a minute later, as a fresh message counting the attempt; after three it is left to the
    reconciler."""
    compute, registry, state = parts
    compute.reject = {("Standard_D2ads_v5", True): "AllocationFailed"}
    request = _request("spot-only", 5)
    result = await _provisioner(parts)(request, message_id="m")
    assert (result.outcome, result.retry_after_s) == ("deferred", ALL_FAILED_RETRY_S)
    assert result.follow_up is not None
    again = parse_provision(result.follow_up)
    assert (again.attempt, again.owner) == (1, "")
    assert compute.attempts == [("Standard_D2ads_v5", True)]
    assert registry.runners == {}
    assert await state.slots("spot-only") == {}
    assert await state.job("github", "5") is None
    last = await _provisioner(parts)(request.model_copy(update={"attempt": 2}), message_id="m3")
    assert (last.outcome, last.follow_up) == ("gave-up", None)


class RefusingRegistry(FakeRegistry):
    async def register(self, scope: RunnerScope, name: str) -> Registration:
        raise RuntimeError("the forge refused the registration")


async def test_a_failed_registration_gives_its_capacity_slot_back() -> None:
    """When the forge refuses the registration, no VM will come: the slot is free again at once."""
    state = FleetState(MemoryStateTable())
    provision = make_provisioner(
        {SMALL.name: SMALL}, state, FakeCompute(), {"github": RefusingRegistry()}, "k"
    )

    with pytest.raises(RuntimeError):
        await provision(_request(SMALL.name, 5), message_id="m")

    assert await state.slots(SMALL.name) == {}
