import pytest

from runner_fleet import naming
from runner_fleet.adapters.memory.state import MemoryStateTable
from runner_fleet.messages import ProvisionRequest, ReleaseRequest
from runner_fleet.ports.compute import VmInfo
from runner_fleet.ports.forge import RunnerInfo
from runner_fleet.state.store import FleetState
from runner_fleet.usecases.provision import Provisioner
from runner_fleet.usecases.release import Releaser
from tests.builders import make_pool
from tests.fakes import FakeCompute, FakeRegistry

POOL = make_pool("aks-prod", ("aks-prod",))
NAME = naming.runner_name("aks-prod", "github", "42")


@pytest.fixture
def parts() -> tuple[FakeCompute, FakeRegistry, FleetState]:
    return FakeCompute(), FakeRegistry(), FleetState(MemoryStateTable())


async def _provisioned(parts: tuple[FakeCompute, FakeRegistry, FleetState]) -> int:
    compute, registry, state = parts
    provision = Provisioner({"aks-prod": POOL}, state, compute, {"github": registry}, "ssh-ed25519 AAAA")
    await provision(
        ProvisionRequest(forge="github", pool="aks-prod", job_id=42, org="example-org"), message_id="m"
    )
    return next(iter(registry.runners))


def _releaser(parts: tuple[FakeCompute, FakeRegistry, FleetState]) -> Releaser:
    compute, registry, state = parts
    return Releaser({"aks-prod": POOL}, state, compute, {"github": registry})


def _request(**overrides: object) -> ReleaseRequest:
    fields: dict[str, object] = {
        "forge": "github",
        "pool": "aks-prod",
        "job_id": 42,
        "org": "example-org",
        "runner_name": NAME,
    }
    return ReleaseRequest.model_validate(fields | overrides)


async def test_deletes_vm_and_leftover_registration(
    parts: tuple[FakeCompute, FakeRegistry, FleetState],
) -> None:
    """Release deletes the runner's VM and its registration if GitHub still lists it."""
    runner_id = await _provisioned(parts)
    result = await _releaser(parts)(_request(runner_id=runner_id))
    compute, registry, _ = parts
    assert (result.vm_deleted, result.registration_removed) == (True, True)
    assert compute.vms == {} and registry.runners == {}


async def test_registration_already_gone_is_fine(parts: tuple[FakeCompute, FakeRegistry, FleetState]) -> None:
    """A JIT runner that removed itself leaves only the VM to delete."""
    runner_id = await _provisioned(parts)
    parts[1].runners.clear()
    result = await _releaser(parts)(_request(runner_id=runner_id))
    assert (result.vm_deleted, result.registration_removed) == (True, False)


async def test_release_twice_is_harmless(parts: tuple[FakeCompute, FakeRegistry, FleetState]) -> None:
    """A second release of the same runner finds nothing and raises nothing."""
    runner_id = await _provisioned(parts)
    releaser = _releaser(parts)
    await releaser(_request(runner_id=runner_id))
    again = await releaser(_request(runner_id=runner_id))
    assert (again.vm_deleted, again.registration_removed, again.outcome) == (False, False, "released")


async def test_a_vm_without_our_tag_is_never_deleted(
    parts: tuple[FakeCompute, FakeRegistry, FleetState],
) -> None:
    """A VM that merely has our name pattern but not our managed-by tag is left alone."""
    compute = parts[0]
    compute.foreign[NAME] = VmInfo(NAME, "rg-runners", "Standard_D2s_v5", {"owner": "someone"}, "Succeeded")
    result = await _releaser(parts)(_request())
    assert result.outcome == "not-ours" and compute.deleted == []


async def test_a_busy_registration_is_not_forced(parts: tuple[FakeCompute, FakeRegistry, FleetState]) -> None:
    """If GitHub says the runner is busy, release does not fail and leaves the registration."""
    runner_id = await _provisioned(parts)
    registry = parts[1]
    registry.runners[runner_id] = RunnerInfo(runner_id, NAME, "online", True)
    result = await _releaser(parts)(_request(runner_id=runner_id))
    assert result.registration_removed is False and runner_id in registry.runners


async def test_registration_is_found_by_name_without_an_id(
    parts: tuple[FakeCompute, FakeRegistry, FleetState],
) -> None:
    """Without a runner id the registration is looked up by name."""
    await _provisioned(parts)
    result = await _releaser(parts)(_request(runner_id=None))
    assert result.registration_removed is True


async def test_a_different_runner_with_that_id_is_not_removed(
    parts: tuple[FakeCompute, FakeRegistry, FleetState],
) -> None:
    """If the id now belongs to a runner of another name, it is not touched."""
    await _provisioned(parts)
    registry = parts[1]
    registry.runners[999] = RunnerInfo(999, "someone-elses", "online", False)
    await _releaser(parts)(_request(runner_id=999))
    assert 999 in registry.runners


async def test_unknown_pool_is_ignored(parts: tuple[FakeCompute, FakeRegistry, FleetState]) -> None:
    """A release for a pool not configured (or a name of another pool) touches nothing."""
    result = await _releaser(parts)(_request(pool="other", runner_name="rf-other-0123456789"))
    assert result.outcome == "unknown-pool"


async def test_release_settles_the_job_the_vm_was_made_for(
    parts: tuple[FakeCompute, FakeRegistry, FleetState],
) -> None:
    """After release, a retried provision of the VM's own job creates nothing new."""
    await _provisioned(parts)
    compute, registry, state = parts
    await state.mark_job("github", "42", "provisioning")  # as if the provision were still being retried
    await _releaser(parts)(_request())
    provision = Provisioner({"aks-prod": POOL}, state, compute, {"github": registry}, "ssh-ed25519 AAAA")
    again = await provision(
        ProvisionRequest(forge="github", pool="aks-prod", job_id=42, org="example-org"), message_id="m"
    )
    assert again.outcome == "already-served"
    assert compute.vms == {}
