import pytest

from runner_fleet import naming
from runner_fleet.adapters.memory.state import MemoryStateTable
from runner_fleet.messages import ProvisionRequest, ReleaseRequest
from runner_fleet.ports.compute import VmInfo
from runner_fleet.ports.forge import RunnerInfo
from runner_fleet.ports.jobs import JobRef, Resolution
from runner_fleet.settings.pool import Pool
from runner_fleet.state.store import FleetState
from runner_fleet.usecases.release import Releaser
from tests.builders import make_pool, make_provisioner
from tests.fakes import FakeCompute, FakeRegistry

POOL = make_pool("aks-prod", ("aks-prod",))
NAME = naming.runner_name("aks-prod", "github", "42")


@pytest.fixture
def parts() -> tuple[FakeCompute, FakeRegistry, FleetState]:
    return FakeCompute(), FakeRegistry(), FleetState(MemoryStateTable())


async def _provisioned(parts: tuple[FakeCompute, FakeRegistry, FleetState]) -> int:
    compute, registry, state = parts
    provision = make_provisioner({"aks-prod": POOL}, state, compute, {"github": registry}, "ssh-ed25519 AAAA")
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
    provision = make_provisioner({"aks-prod": POOL}, state, compute, {"github": registry}, "ssh-ed25519 AAAA")
    again = await provision(
        ProvisionRequest(forge="github", pool="aks-prod", job_id=42, org="example-org"), message_id="m"
    )
    assert again.outcome == "already-served"
    assert compute.vms == {}


class FakeConfirmer:
    """The forge's answer to "what is this job's status now?"."""

    def __init__(self, status: str | None) -> None:
        self.current = status
        self.asked: list[JobRef] = []

    async def resolve(self, job: JobRef, pools: list[Pool]) -> Resolution:
        raise AssertionError("a release never resolves pools")

    async def status(self, job: JobRef) -> str | None:
        self.asked.append(job)
        return self.current

    async def close(self) -> None:
        return None


def _confirmed_releaser(parts: tuple[FakeCompute, FakeRegistry, FleetState], status: str | None) -> Releaser:
    compute, registry, state = parts
    return Releaser(
        {"aks-prod": POOL}, state, compute, {"github": registry}, confirmers={"github": FakeConfirmer(status)}
    )


@pytest.mark.parametrize("status", ["running", "pending", "canceling", None])
async def test_a_release_the_forge_does_not_confirm_deletes_nothing_and_settles_nothing(
    parts: tuple[FakeCompute, FakeRegistry, FleetState], status: str | None
) -> None:
    """A forged or stale "job finished" for a job still running (or unknown) leaves VM and job as they are."""
    runner_id = await _provisioned(parts)
    compute, registry, state = parts

    result = await _confirmed_releaser(parts, status)(_request(runner_id=runner_id, project_id=7))

    assert result.outcome == "not-confirmed"
    assert NAME in compute.vms and runner_id in registry.runners
    record = await state.job("github", "42")
    assert record is not None and record.data["state"] == "provisioned"


async def test_a_confirmed_release_deletes_the_vm(
    parts: tuple[FakeCompute, FakeRegistry, FleetState],
) -> None:
    """When the forge says the job succeeded, the release goes ahead."""
    runner_id = await _provisioned(parts)
    result = await _confirmed_releaser(parts, "success")(_request(runner_id=runner_id, project_id=7))
    assert (result.outcome, result.vm_deleted) == ("released", True)


async def test_a_release_without_a_runner_only_settles_the_confirmed_job(
    parts: tuple[FakeCompute, FakeRegistry, FleetState],
) -> None:
    """No runner named: the job is marked done (a queued provision for it makes no VM), nothing deleted."""
    await _provisioned(parts)
    compute, _, state = parts

    result = await _confirmed_releaser(parts, "canceled")(_request(runner_name="", project_id=7))

    assert result.outcome == "settled" and NAME in compute.vms
    record = await state.job("github", "42")
    assert record is not None and record.data["state"] == "done"


async def test_a_registration_the_forge_removes_itself_is_not_looked_up(
    parts: tuple[FakeCompute, FakeRegistry, FleetState],
) -> None:
    """GitHub deletes a JIT runner after its job: release spends no API call on it (the reconciler
    removes a leftover)."""
    runner_id = await _provisioned(parts)
    compute, registry, _ = parts
    registry.removes_itself_after_job = True

    result = await _releaser(parts)(_request(runner_id=runner_id))

    assert (result.vm_deleted, result.registration_removed) == (True, False)
    assert compute.vms == {} and runner_id in registry.runners


async def test_a_github_release_is_confirmed_by_the_jobs_status_on_github(
    parts: tuple[FakeCompute, FakeRegistry, FleetState],
) -> None:
    """GitHub's `completed` confirms a release for our runner, asked about the job in its repository."""
    runner_id = await _provisioned(parts)
    compute, _, state = parts
    confirmer = FakeConfirmer("in_progress")
    releaser = Releaser(
        {"aks-prod": POOL}, state, compute, {"github": parts[1]}, confirmers={"github": confirmer}
    )
    request = _request(runner_id=runner_id, repository="example-org/platform-deploy", installation_id=9)

    assert (await releaser(request)).outcome == "not-confirmed" and NAME in compute.vms
    confirmer.current = "completed"
    assert (await releaser(request)).outcome == "released" and compute.vms == {}
    assert {(j.job_id, j.repository, j.installation_id) for j in confirmer.asked} == {
        (42, "example-org/platform-deploy", 9)
    }
