"""The GitLab adapters through real python-gitlab against the GitLab simulator."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from runner_fleet.adapters.gitlab.client import GitLabClient
from runner_fleet.adapters.gitlab.jobs import GitLabJobResolver
from runner_fleet.adapters.gitlab.registry import GitLabApiError, GitLabRegistry
from runner_fleet.ports.forge import RunnerNameTaken, RunnerScope
from simulator.clock import SimClock
from simulator.gitlab import ApiToken, GitLabSimulator
from simulator.server import BackgroundLoop
from simulator.stack import (
    DEMO_GITLAB_GROUP_ID,
    DEMO_GITLAB_OTHER_PROJECT_ID,
    DEMO_GITLAB_PROJECT_ID,
    DEMO_GITLAB_TOKEN,
    demo_gitlab_config,
)
from tests.builders import make_pool

pytestmark = pytest.mark.e2e
GROUP_POOL = make_pool(
    "gl-group", ("aks-prod", "deploy"), forge="gitlab", github=None, gitlab={"group_id": DEMO_GITLAB_GROUP_ID}
)
PROJECT_POOL = make_pool(
    "gl-project",
    ("aks-prod",),
    forge="gitlab",
    github=None,
    gitlab={"project_id": DEMO_GITLAB_OTHER_PROJECT_ID},
)


@pytest.fixture(scope="module")
def sim() -> Iterator[GitLabSimulator]:
    loop = BackgroundLoop()
    tokens = (
        ApiToken(DEMO_GITLAB_TOKEN, ("create_runner", "manage_runner", "read_api")),
        ApiToken("glpat-read-only-token", ("read_api",)),
    )
    sim = GitLabSimulator(loop, clock=SimClock(20), config=demo_gitlab_config(tokens=tokens))
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
        await resolver.resolve(inside["id"], DEMO_GITLAB_PROJECT_ID, "example-group/platform/deploy", pools)
    ).pool is GROUP_POOL
    outside = sim.create_job(DEMO_GITLAB_OTHER_PROJECT_ID, ["deploy"])
    resolution = await resolver.resolve(
        outside["id"], DEMO_GITLAB_OTHER_PROJECT_ID, "example-group/website", pools
    )
    assert resolution.pool is None and "no pool" in resolution.reason
    untagged = sim.create_job(DEMO_GITLAB_PROJECT_ID, [])
    assert (
        "untagged"
        in (
            await resolver.resolve(
                untagged["id"], DEMO_GITLAB_PROJECT_ID, "example-group/platform/deploy", pools
            )
        ).reason
    )
    sim.cancel_job(inside["id"])
    left = await resolver.resolve(
        inside["id"], DEMO_GITLAB_PROJECT_ID, "example-group/platform/deploy", pools
    )
    assert left.pool is None and "no longer pending" in left.reason
