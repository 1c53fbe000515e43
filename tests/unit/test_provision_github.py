"""Provisioning for GitHub: the job is read from GitHub first, and the pool's runner group gates the VM."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import pytest

from runner_fleet import naming
from runner_fleet.adapters.memory.state import MemoryStateTable
from runner_fleet.matching import match_github_pool
from runner_fleet.messages import ProvisionRequest
from runner_fleet.ports.forge import ForgeRateLimited
from runner_fleet.ports.jobs import JobRef, Resolution
from runner_fleet.ports.preflight import CheckResult, Status
from runner_fleet.preflight.forge_gate import ForgeAccessGate
from runner_fleet.settings.pool import Pool
from runner_fleet.state.store import FleetState
from runner_fleet.usecases.create_runner import ProvisionRetryLater
from runner_fleet.usecases.provision import Provisioner
from tests.builders import make_pool, make_provisioner
from tests.fakes import FakeCompute, FakeRegistry

PROD = make_pool("aks-prod", ("aks-prod",))
DEV = make_pool("aks-dev", ("aks-dev",))
REQUEST = ProvisionRequest(
    forge="github",
    pool="aks-prod",
    job_id=42,
    org="example-org",
    repository="example-org/platform-deploy",
    labels=("aks-prod",),
)


@dataclass
class FakeGitHubJobs:
    """GitHub's record of jobs: id -> (status, labels, public repository?)."""

    jobs: dict[int, tuple[str, tuple[str, ...], bool]] = field(default_factory=dict)
    limited: bool = False
    asked: list[JobRef] = field(default_factory=list)

    async def resolve(self, job: JobRef, pools: list[Pool]) -> Resolution:
        self.asked.append(job)
        if self.limited:
            raise ForgeRateLimited(30.0, "GitHub primary rate limit exhausted")
        status, labels, public = self.jobs[job.job_id]
        if status != "queued":
            return Resolution(None, f"job is {status}, no longer queued")
        pool = match_github_pool(labels, pools, org="example-org", repository=job.repository, public=public)
        return Resolution(pool, "" if pool else "no pool serves the job")

    async def status(self, job: JobRef) -> str | None:
        known = self.jobs.get(job.job_id)
        return known[0] if known else None

    async def close(self) -> None:
        return None


@dataclass
class FakeAccess:
    """The forge's verdict on a pool's runner group, counting how often it was asked."""

    failing: set[str] = field(default_factory=set)
    asked: list[str] = field(default_factory=list)

    async def check(self, pool: Pool) -> list[CheckResult]:
        self.asked.append(pool.name)
        status: Status = "fail" if pool.name in self.failing else "pass"
        return [
            CheckResult("github-runner-group", status, "group", "found", "" if status == "pass" else "fix it")
        ]

    async def close(self) -> None:
        return None


def _github_holding(
    status: str = "queued", labels: tuple[str, ...] = ("aks-prod",), *, public: bool = False
) -> tuple[FakeCompute, FakeRegistry, FakeGitHubJobs]:
    """Fresh fakes, GitHub holding job 42 with `status` and `labels` in a private (or public) repository."""
    return FakeCompute(), FakeRegistry(), FakeGitHubJobs({42: (status, labels, public)})


def _provisioner(
    compute: FakeCompute, registry: FakeRegistry, jobs: FakeGitHubJobs, access: FakeAccess | None = None
) -> Provisioner:
    gate = ForgeAccessGate({"github": lambda: access}) if access is not None else None
    pools: Sequence[Pool] = (PROD, DEV)
    return make_provisioner(
        {pool.name: pool for pool in pools},
        FleetState(MemoryStateTable()),
        compute,
        {"github": registry},
        "ssh-ed25519 AAAA",
        resolvers={"github": jobs},
        forge_gate=gate,
    )


async def test_a_job_github_still_holds_queued_gets_one_vm() -> None:
    """The job is read from GitHub (repository and installation as the message named them), then served."""
    compute, registry, jobs = _github_holding()
    result = await _provisioner(compute, registry, jobs)(REQUEST, message_id="m")
    assert (result.outcome, compute.created) == ("created", [naming.runner_name("aks-prod", "github", "42")])
    assert [(j.job_id, j.repository, j.org) for j in jobs.asked] == [
        (42, "example-org/platform-deploy", "example-org")
    ]


@pytest.mark.parametrize("status", ["in_progress", "completed", "waiting"])
async def test_a_replayed_or_stale_queued_event_makes_no_vm(status: str) -> None:
    """A job GitHub no longer holds queued (a replayed delivery, taken or cancelled since) gets nothing."""
    compute, registry, jobs = _github_holding(status)
    result = await _provisioner(compute, registry, jobs)(REQUEST, message_id="m")
    assert result.outcome == "not-needed"
    assert compute.created == [] and registry.registrations == []


async def test_the_pool_comes_from_githubs_labels_not_the_messages() -> None:
    """A message naming one pool for a job whose labels on GitHub lead to another serves GitHub's choice."""
    compute, registry, jobs = _github_holding(labels=("aks-dev",))
    result = await _provisioner(compute, registry, jobs)(REQUEST, message_id="m")
    assert result.runner_name == naming.runner_name("aks-dev", "github", "42")


async def test_a_public_repositorys_job_gets_no_vm_from_pools_that_do_not_serve_them() -> None:
    """GitHub saying the repository is public leaves the job alone whatever the webhook said."""
    compute, registry, jobs = _github_holding(public=True)
    assert (await _provisioner(compute, registry, jobs)(REQUEST, message_id="m")).outcome == "not-needed"
    assert compute.created == []


async def test_github_asking_to_wait_defers_the_job_holding_nothing() -> None:
    """A rate-limited read of the job defers the provision: no lease, no slot, no registration."""
    compute, registry, jobs = FakeCompute(), FakeRegistry(), FakeGitHubJobs(limited=True)
    provisioner = _provisioner(compute, registry, jobs)
    with pytest.raises(ProvisionRetryLater) as caught:
        await provisioner(REQUEST, message_id="m")
    assert caught.value.delay_s == 30.0
    assert await provisioner.state.job("github", "42") is None and registry.registrations == []


async def test_a_pool_whose_runner_group_fails_its_check_gets_no_vm_and_the_job_waits() -> None:
    """A failing runner group check defers the job (never drops it) and nothing is registered or created."""
    compute, registry, jobs = _github_holding()
    access = FakeAccess(failing={"aks-prod"})
    provisioner = _provisioner(compute, registry, jobs, access)
    with pytest.raises(ProvisionRetryLater) as caught:
        await provisioner(REQUEST, message_id="m")
    assert caught.value.reason == "forge check failed"
    assert compute.created == [] and registry.registrations == []
    access.failing.clear()
    assert provisioner.forge_gate is not None
    provisioner.forge_gate.invalidate()  # type: ignore[attr-defined]
    assert (await provisioner(REQUEST, message_id="m2")).outcome == "created"


async def test_the_runner_group_is_checked_once_per_pool_not_per_job() -> None:
    """Many jobs of one pool share one cached runner group check."""
    compute, registry, access = FakeCompute(), FakeRegistry(), FakeAccess()
    jobs = FakeGitHubJobs(dict.fromkeys(range(1, 6), ("queued", ("aks-prod",), False)))
    provisioner = _provisioner(compute, registry, jobs, access)
    for i in range(1, 6):
        await provisioner(REQUEST.model_copy(update={"job_id": i}), message_id=f"m{i}")
    assert access.asked == ["aks-prod"] and len(compute.created) == 5
