"""The GitLab adapters through real python-gitlab against the GitLab simulator."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from runner_fleet.adapters.gitlab.access import GitLabAccess
from runner_fleet.adapters.gitlab.client import GitLabClient
from runner_fleet.adapters.gitlab.feed import GitLabFeed
from runner_fleet.adapters.gitlab.jobs import GitLabJobResolver
from runner_fleet.adapters.gitlab.registry import GitLabApiError, GitLabRegistry
from runner_fleet.ports.forge import RunnerNameTaken, RunnerScope
from runner_fleet.ports.jobs import JobRef
from runner_fleet.settings.pool import Pool
from simulator.clock import SimClock
from simulator.gitlab import ApiToken, GitLabSimulator
from simulator.gitlab.config import MAINTAINER, OWNER, Member
from simulator.server import BackgroundLoop
from simulator.stack import (
    DEMO_GITLAB_GROUP_ID,
    DEMO_GITLAB_OTHER_PROJECT_ID,
    DEMO_GITLAB_PROJECT_ID,
    DEMO_GITLAB_TOKEN,
    DEMO_GITLAB_USER,
    demo_gitlab_config,
)
from tests.builders import make_pool

pytestmark = pytest.mark.e2e
MAINTAINER_TOKEN = "glpat-group-maintainer-token"


def _gitlab_pool(name: str, *tags: str, **gitlab: object) -> Pool:
    return make_pool(name, tags, forge="gitlab", github=None, gitlab=gitlab)


PROTECTED_POOL = _gitlab_pool(
    "gl-prod", "aks-prod", group_id=DEMO_GITLAB_GROUP_ID, access_level="ref_protected"
)
GROUP_POOL = _gitlab_pool("gl-group", "aks-prod", "deploy", group_id=DEMO_GITLAB_GROUP_ID)
PROJECT_POOL = _gitlab_pool("gl-project", "aks-prod", project_id=DEMO_GITLAB_OTHER_PROJECT_ID)


@pytest.fixture(scope="module")
def sim() -> Iterator[GitLabSimulator]:
    loop = BackgroundLoop()
    tokens = (
        ApiToken(
            DEMO_GITLAB_TOKEN, ("create_runner", "manage_runner", "read_api"), username=DEMO_GITLAB_USER
        ),
        ApiToken("glpat-read-only-token", ("read_api",)),
        ApiToken(MAINTAINER_TOKEN, ("create_runner", "manage_runner", "read_api"), username="deployer"),
    )
    members = (Member(DEMO_GITLAB_USER, "group", 200, OWNER), Member("deployer", "group", 200, MAINTAINER))
    sim = GitLabSimulator(loop, clock=SimClock(20), config=demo_gitlab_config(tokens=tokens, members=members))
    sim.start()
    yield sim
    loop.close()


def _client(sim: GitLabSimulator, token: str = DEMO_GITLAB_TOKEN) -> GitLabClient:
    return GitLabClient(sim.base_url, token)


async def test_group_runner_round_trip(sim: GitLabSimulator) -> None:
    """A group runner is created with the pool's tags, not for untagged jobs, and found, read and deleted."""
    registry = GitLabRegistry(_client(sim))
    scope = RunnerScope(GROUP_POOL, str(DEMO_GITLAB_GROUP_ID))
    registration = await registry.register(scope, "rf-gl-group-0000000001")
    assert registration.secret.startswith("glrt-")
    [created] = [r for r in sim.runners() if r["id"] == registration.runner_id]
    assert (created["runner_type"], created["group_id"], created["run_untagged"]) == (
        "group_type",
        201,
        False,
    )
    assert (
        created["tag_list"] == ["aks-prod", "deploy"] and created["description"] == "rf-gl-group-0000000001"
    )
    found = await registry.find(scope, "rf-gl-group-0000000001")
    assert found is not None and found.runner_id == registration.runner_id
    info = await registry.get(scope, registration.runner_id)
    assert info is not None and info.busy is False
    assert await registry.remove(scope, registration.runner_id) is True
    assert await registry.remove(scope, registration.runner_id) is False
    assert await registry.get(scope, registration.runner_id) is None
    await registry.close()


async def test_project_runner_and_name_reuse(sim: GitLabSimulator) -> None:
    """A project pool creates a project runner; registering the same name again raises RunnerNameTaken."""
    registry = GitLabRegistry(_client(sim))
    scope = RunnerScope(PROJECT_POOL, str(DEMO_GITLAB_OTHER_PROJECT_ID))
    registration = await registry.register(scope, "rf-gl-project-0000000001")
    [created] = [r for r in sim.runners() if r["id"] == registration.runner_id]
    assert (created["runner_type"], created["project_id"]) == ("project_type", DEMO_GITLAB_OTHER_PROJECT_ID)
    with pytest.raises(RunnerNameTaken):
        await registry.register(scope, "rf-gl-project-0000000001")
    await registry.close()


async def test_a_token_without_create_runner_fails_clearly(sim: GitLabSimulator) -> None:
    """A read-only token cannot create runners: GitLabApiError 403, with no token in its text."""
    registry = GitLabRegistry(_client(sim, "glpat-read-only-token"))
    with pytest.raises(GitLabApiError) as caught:
        await registry.register(RunnerScope(GROUP_POOL, "201"), "rf-gl-group-0000000009")
    assert caught.value.status == 403
    assert "glpat" not in str(caught.value)
    await registry.close()


async def test_resolver_reads_tags_and_scope(sim: GitLabSimulator) -> None:
    """The resolver matches a pending job by its API tags within the pool's group, and refuses others."""
    resolver = GitLabJobResolver(_client(sim))
    pools = [GROUP_POOL, PROJECT_POOL]
    inside = sim.create_job(DEMO_GITLAB_PROJECT_ID, ["deploy"])
    assert (
        await resolver.resolve(
            JobRef(inside["id"], "example-group/platform/deploy", project_id=DEMO_GITLAB_PROJECT_ID), pools
        )
    ).pool is GROUP_POOL
    outside = sim.create_job(DEMO_GITLAB_OTHER_PROJECT_ID, ["deploy"])
    resolution = await resolver.resolve(
        JobRef(outside["id"], "example-group/website", project_id=DEMO_GITLAB_OTHER_PROJECT_ID), pools
    )
    assert resolution.pool is None and "no pool" in resolution.reason
    untagged = sim.create_job(DEMO_GITLAB_PROJECT_ID, [])
    assert (
        "untagged"
        in (
            await resolver.resolve(
                JobRef(untagged["id"], "example-group/platform/deploy", project_id=DEMO_GITLAB_PROJECT_ID),
                pools,
            )
        ).reason
    )
    sim.cancel_job(inside["id"])
    left = await resolver.resolve(
        JobRef(inside["id"], "example-group/platform/deploy", project_id=DEMO_GITLAB_PROJECT_ID), pools
    )
    assert left.pool is None and "no longer pending" in left.reason


async def test_ref_protected_pools_get_only_jobs_on_protected_refs(sim: GitLabSimulator) -> None:
    """Rule gitlab.access-level.ref-protected: a feature-branch job is not resolved nor recovered for it."""
    resolver = GitLabJobResolver(_client(sim))
    feed = GitLabFeed(_client(sim))
    path = "example-group/platform/deploy"
    feature = sim.create_job(DEMO_GITLAB_PROJECT_ID, ["aks-prod"], ref="feature/login", duration_s=3600)
    main = sim.create_job(DEMO_GITLAB_PROJECT_ID, ["aks-prod"], duration_s=3600)

    refused = await resolver.resolve(
        JobRef(feature["id"], path, project_id=DEMO_GITLAB_PROJECT_ID), [PROTECTED_POOL]
    )
    served = await resolver.resolve(
        JobRef(main["id"], path, project_id=DEMO_GITLAB_PROJECT_ID), [PROTECTED_POOL]
    )
    waiting = {job.request.job_id for job in await feed.waiting_jobs([PROTECTED_POOL])}

    assert refused.pool is None and "on this ref" in refused.reason
    assert served.pool is PROTECTED_POOL
    assert main["id"] in waiting and feature["id"] not in waiting
    any_branch = _gitlab_pool(
        "gl-dev", "aks-prod", group_id=DEMO_GITLAB_GROUP_ID, access_level="not_protected"
    )
    either = await resolver.resolve(
        JobRef(feature["id"], path, project_id=DEMO_GITLAB_PROJECT_ID), [PROTECTED_POOL, any_branch]
    )
    assert either.pool is any_branch
    for job in (feature, main):
        sim.cancel_job(job["id"])


async def test_access_check_names_the_missing_role(sim: GitLabSimulator) -> None:
    """gitlab-role: an Owner passes for a group pool; a Maintainer fails it, but passes for a project pool."""
    owner = GitLabAccess(_client(sim))
    maintainer = GitLabAccess(_client(sim, MAINTAINER_TOKEN))

    [ok] = await owner.check(GROUP_POOL)
    [refused] = await maintainer.check(GROUP_POOL)
    [project] = await maintainer.check(PROJECT_POOL)

    assert (ok.name, ok.status) == ("gitlab-role", "pass")
    assert refused.status == "fail"
    assert refused.message == "deployer is Maintainer of the group; group runners need Owner"
    assert "give deployer the Owner role in group 201" in refused.fix
    assert project.status == "pass"


async def test_the_pending_job_scan_stops_at_the_rate_limit_reserve_and_runners_still_register() -> None:
    """Rule gitlab.rate-limit.headers: with the window nearly spent the scan stops; registration works."""
    loop = BackgroundLoop()
    tokens = (
        ApiToken(
            DEMO_GITLAB_TOKEN, ("create_runner", "manage_runner", "read_api"), username=DEMO_GITLAB_USER
        ),
    )
    config = demo_gitlab_config(tokens=tokens, api_rate_limit_per_minute=30)
    # A simulated minute lasts 20 real minutes here: the test stays inside one window.
    limited = GitLabSimulator(loop, clock=SimClock(0.05), config=config)
    limited.start()
    try:
        client = _client(limited)
        feed, registry = GitLabFeed(client), GitLabRegistry(client)
        for _ in range(3):
            limited.create_job(DEMO_GITLAB_PROJECT_ID, ["aks-prod"], duration_s=3600)
        while client.rate_limit.scan_may_spend():
            await feed.waiting_jobs([GROUP_POOL])
        remaining = client.rate_limit.last
        assert remaining is not None and 0 < remaining.remaining <= 20
        calls_before = remaining.remaining

        assert await feed.waiting_jobs([GROUP_POOL]) == []
        assert client.rate_limit.last is not None and client.rate_limit.last.remaining == calls_before
        registration = await registry.register(RunnerScope(GROUP_POOL, "201"), "rf-gl-group-00000000aa")
        assert registration.secret.startswith("glrt-")
        await registry.close()
    finally:
        loop.close()


async def test_the_resolver_trusts_gitlab_for_the_project_path_not_the_hook(sim: GitLabSimulator) -> None:
    """A hook pairing an outside project's job with an inside path gets no pool: GitLab's path decides."""
    resolver = GitLabJobResolver(_client(sim))
    outside = sim.create_job(DEMO_GITLAB_OTHER_PROJECT_ID, ["aks-prod", "deploy"], duration_s=3600)

    forged = await resolver.resolve(
        JobRef(outside["id"], "example-group/platform/deploy", project_id=DEMO_GITLAB_OTHER_PROJECT_ID),
        [GROUP_POOL],
    )

    assert forged.pool is None
    assert (
        await resolver.status(JobRef(outside["id"], "", project_id=DEMO_GITLAB_OTHER_PROJECT_ID)) == "pending"
    )
    assert (
        await resolver.status(JobRef(outside["id"], "", project_id=DEMO_GITLAB_PROJECT_ID)) is None
    )  # not that project's job
    sim.cancel_job(outside["id"])
