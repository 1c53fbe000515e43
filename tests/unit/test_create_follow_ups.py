"""A provision sends the PUT and returns; follow-ups read the VM, fall back after a failure, and hold
the job's lease meanwhile."""

import pytest

from runner_fleet import naming
from runner_fleet.adapters.memory.state import MemoryStateTable
from runner_fleet.messages import ProvisionRequest, parse_provision
from runner_fleet.ports.compute import CreateFailure
from runner_fleet.state.store import FleetState
from runner_fleet.usecases.create_runner import CreateChecks, ProvisionRetryLater
from runner_fleet.usecases.provision import Provisioner
from tests.builders import make_pool, make_provisioner
from tests.fakes import FakeCompute, FakeRegistry

POOL = make_pool("aks-prod", ("aks-prod",), azure={"vm_sizes": ["Standard_F4s_v2", "Standard_D2ads_v5"]})
REQUEST = ProvisionRequest(
    forge="github", pool="aks-prod", job_id=42, org="example-org", labels=("aks-prod",)
)
NAME = naming.runner_name("aks-prod", "github", "42")


@pytest.fixture
def parts() -> tuple[FakeCompute, FakeRegistry, FleetState]:
    return FakeCompute(), FakeRegistry(), FleetState(MemoryStateTable())


def _provisioner(parts: tuple[FakeCompute, FakeRegistry, FleetState]) -> Provisioner:
    compute, registry, state = parts
    return make_provisioner({POOL.name: POOL}, state, compute, {"github": registry})


async def test_the_put_returns_a_follow_up_that_owns_the_lease(
    parts: tuple[FakeCompute, FakeRegistry, FleetState],
) -> None:
    """While Azure builds the VM the step returns `creating` with a delayed follow-up owning the lease."""
    compute, _, state = parts
    compute.provisioning[NAME] = "Creating"
    result = await _provisioner(parts)(REQUEST, message_id="m1")
    assert (result.outcome, result.retry_after_s) == ("creating", CreateChecks().first_s)
    assert result.follow_up is not None
    follow_up = parse_provision(result.follow_up)
    assert (follow_up.owner, follow_up.pool) == ("m1", "aks-prod")
    record = await state.job("github", "42")
    assert record is not None and (record.data["state"], record.data["owner"]) == ("provisioning", "m1")


async def test_a_follow_up_completes_the_create_without_asking_again(
    parts: tuple[FakeCompute, FakeRegistry, FleetState],
) -> None:
    """The follow-up (another message) reads the VM: once Succeeded the job is provisioned, and
    nothing is registered or created twice."""
    compute, registry, state = parts
    compute.provisioning[NAME] = "Creating"
    first = await _provisioner(parts)(REQUEST, message_id="m1")
    assert first.follow_up is not None
    again = await _provisioner(parts)(parse_provision(first.follow_up), message_id="m2")
    assert (again.outcome, again.retry_after_s) == ("creating", CreateChecks().every_s)
    del compute.provisioning[NAME]
    done = await _provisioner(parts)(parse_provision(first.follow_up), message_id="m3")
    assert done.outcome == "created" and done.follow_up is None
    assert (compute.created, registry.registrations) == ([NAME], [NAME])
    record = await state.job("github", "42")
    assert record is not None and record.data["state"] == "provisioned"


async def test_a_capacity_failure_after_acceptance_deletes_the_vm_and_tries_the_next_size(
    parts: tuple[FakeCompute, FakeRegistry, FleetState],
) -> None:
    """AllocationFailed on the first size: the failed VM is deleted, then the next size is created
    under a fresh registration, while the job's lease is held throughout."""
    compute, registry, state = parts
    compute.provisioning[NAME] = "Failed"
    compute.failures[NAME] = CreateFailure("AllocationFailed", "no capacity", capacity=True)
    first = await _provisioner(parts)(REQUEST, message_id="m1")
    assert first.follow_up is not None
    failed = await _provisioner(parts)(parse_provision(first.follow_up), message_id="m2")
    assert failed.outcome == "creating" and compute.deleted == [NAME]
    record = await state.job("github", "42")
    assert record is not None and (record.data["state"], record.data["plan"]) == ("provisioning", 1)
    del compute.provisioning[NAME], compute.failures[NAME]
    done = await _provisioner(parts)(parse_provision(first.follow_up), message_id="m3")
    assert done.outcome == "created"
    assert compute.attempts == [("Standard_F4s_v2", False), ("Standard_D2ads_v5", False)]
    assert len(registry.registrations) == 2 and len(registry.runners) == 1


async def test_a_failure_no_other_size_can_fix_gives_the_job_back(
    parts: tuple[FakeCompute, FakeRegistry, FleetState],
) -> None:
    """A failure that is not about capacity frees registration, slot and lease, and defers the job."""
    compute, registry, state = parts
    compute.provisioning[NAME] = "Failed"
    compute.failures[NAME] = CreateFailure("InvalidParameter", "bad image", capacity=False)
    first = await _provisioner(parts)(REQUEST, message_id="m1")
    assert first.follow_up is not None
    result = await _provisioner(parts)(parse_provision(first.follow_up), message_id="m2")
    assert result.outcome == "deferred" and result.follow_up is not None
    assert parse_provision(result.follow_up).attempt == 1
    assert (registry.runners, compute.deleted) == ({}, [NAME])
    assert await state.job("github", "42") is None
    assert await state.slots("aks-prod") == {}


async def test_a_throttled_cloud_costs_no_registration(
    parts: tuple[FakeCompute, FakeRegistry, FleetState],
) -> None:
    """While Resource Manager throttles creates, the job waits holding nothing and nothing is registered."""
    compute, registry, state = parts
    compute.throttled_s = 30.0
    with pytest.raises(ProvisionRetryLater) as caught:
        await _provisioner(parts)(REQUEST, message_id="m1")
    assert caught.value.delay_s >= 30.0
    assert (registry.registrations, compute.attempts) == ([], [])
    assert await state.job("github", "42") is None


async def test_a_follow_up_whose_job_was_reopened_makes_nothing(
    parts: tuple[FakeCompute, FakeRegistry, FleetState],
) -> None:
    """A follow-up delayed past its VM's whole life (it ran another job, a release deleted it and
    reopened this job) makes no second VM: only a provision that asks the forge again may."""
    compute, registry, state = parts
    compute.provisioning[NAME] = "Creating"
    first = await _provisioner(parts)(REQUEST, message_id="m1")
    assert first.follow_up is not None
    del compute.vms[NAME], compute.provisioning[NAME]  # built, ran another job, deleted
    await state.reopen_job("github", "42")
    late = await _provisioner(parts)(parse_provision(first.follow_up), message_id="m2")
    assert late.outcome == "not-needed" and late.follow_up is None
    assert (compute.created, registry.registrations) == ([NAME], [NAME])
