"""Provisioning for GitLab: the pool comes from the job's tags, read from the API by a resolver."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from runner_fleet.adapters.memory.state import MemoryStateTable
from runner_fleet.matching import match_gitlab_pool
from runner_fleet.messages import ProvisionRequest
from runner_fleet.ports.compute import VmCreateRejected
from runner_fleet.ports.jobs import JobRef, Resolution
from runner_fleet.settings.pool import Pool
from runner_fleet.state.store import FleetState
from runner_fleet.usecases.provision import Provisioner
from tests.builders import make_pool, make_provisioner
from tests.fakes import FakeCompute, FakeRegistry

GL = make_pool("gl-aks", ("aks-prod", "deploy"), forge="gitlab", github=None, gitlab={"group_id": 7})
REQUEST = ProvisionRequest(forge="gitlab", pool="", job_id=1977, project_id=380, repository="platform/deploy")


@dataclass
class FakeResolver:
    """Answers like the GitLab resolver from a table of job -> (status, tags)."""

    jobs: dict[int, tuple[str, tuple[str, ...]]] = field(default_factory=dict)
    asked: list[int] = field(default_factory=list)

    async def resolve(self, job: JobRef, pools: list[Pool]) -> Resolution:
        self.asked.append(job.job_id)
        status, tags = self.jobs[job.job_id]
        if status != "pending":
            return Resolution(None, f"job is {status}")
        pool = match_gitlab_pool(tags, pools)
        return Resolution(pool, "" if pool else "no pool serves tags")

    async def status(self, job: JobRef) -> str | None:
        known = self.jobs.get(job.job_id)
        return known[0] if known else None

    async def close(self) -> None:
        return None


@pytest.fixture
def parts() -> tuple[FakeCompute, FakeRegistry, FakeResolver]:
    return FakeCompute(), FakeRegistry(), FakeResolver()


def _provisioner(parts: tuple[FakeCompute, FakeRegistry, FakeResolver]) -> Provisioner:
    compute, registry, resolver = parts
    return make_provisioner(
        {GL.name: GL},
        FleetState(MemoryStateTable()),
        compute,
        {"gitlab": registry},
        "ssh-ed25519 AAAA",
        resolvers={"gitlab": resolver},
    )


async def test_pending_job_with_served_tags_gets_a_runner(
    parts: tuple[FakeCompute, FakeRegistry, FakeResolver],
) -> None:
    """A pending job whose tags the pool has gets one registration and one VM."""
    compute, registry, resolver = parts
    resolver.jobs[1977] = ("pending", ("aks-prod",))
    result = await _provisioner(parts)(REQUEST, message_id="m")
    assert result.outcome == "created"
    assert len(compute.created) == 1 and compute.created == registry.registrations
    assert compute.vms[compute.created[0]].tags["forge"] == "gitlab"


async def test_job_that_left_pending_is_not_provisioned(
    parts: tuple[FakeCompute, FakeRegistry, FakeResolver],
) -> None:
    """If the job is running, finished or cancelled by the time we look, nothing is created."""
    compute, registry, resolver = parts
    for status in ("running", "success", "canceled"):
        resolver.jobs[1977] = (status, ("aks-prod",))
        assert (await _provisioner(parts)(REQUEST, message_id="m")).outcome == "not-needed"
    assert compute.created == [] and registry.registrations == []


async def test_tags_no_pool_serves_are_left_alone(
    parts: tuple[FakeCompute, FakeRegistry, FakeResolver],
) -> None:
    """A job with a tag outside every pool, or with no tags, gets nothing."""
    compute, _, resolver = parts
    for tags in (("aks-prod", "gpu"), ()):
        resolver.jobs[1977] = ("pending", tags)
        assert (await _provisioner(parts)(REQUEST, message_id="m")).outcome == "not-needed"
    assert compute.created == []


async def test_failed_vm_create_deletes_the_new_gitlab_runner(
    parts: tuple[FakeCompute, FakeRegistry, FakeResolver],
) -> None:
    """When the VM cannot be created, the GitLab runner created for it is deleted (reverse-order cleanup)."""
    compute, registry, resolver = parts
    resolver.jobs[1977] = ("pending", ("deploy",))
    compute.fail_create = VmCreateRejected("SkuNotAvailable", "not here")
    assert (await _provisioner(parts)(REQUEST, message_id="m")).outcome == "deferred"
    assert len(registry.registrations) == 1
    assert registry.runners == {}


def test_gitlab_matching_rules() -> None:
    """Every job tag must be a pool tag, exactly; the most specific pool wins; untagged matches nothing."""
    narrow = make_pool("gl-narrow", ("aks-prod",), forge="gitlab", github=None, gitlab={"group_id": 7})
    assert match_gitlab_pool(["aks-prod"], [GL, narrow]) is narrow
    assert match_gitlab_pool(["aks-prod", "deploy"], [GL, narrow]) is GL
    assert match_gitlab_pool(["AKS-PROD"], [GL]) is None
    assert match_gitlab_pool([], [GL]) is None


async def test_a_retried_message_for_a_job_no_longer_pending_gives_its_lease_back(
    parts: tuple[FakeCompute, FakeRegistry, FakeResolver],
) -> None:
    """A retried message for a job that left pending gives back the lease its dead first attempt held."""
    _, _, resolver = parts
    provisioner = _provisioner(parts)
    await provisioner.state.claim_job(
        "gitlab", "1977", runner_name="rf-gl-aks-x", pool="gl-aks", owner="m", lease_s=900
    )
    resolver.jobs[1977] = ("running", ("aks-prod",))
    assert (await provisioner(REQUEST, message_id="m")).outcome == "not-needed"
    assert await provisioner.state.active_leases("gitlab", 0.0) == set()
