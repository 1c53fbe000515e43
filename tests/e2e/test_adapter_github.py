"""The GitHub adapter through real PyGithub against the GitHub simulator."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator

import pytest

from runner_fleet.adapters.github.access import GitHubAccess
from runner_fleet.adapters.github.auth import GitHubAuth, GitHubClientOptions
from runner_fleet.adapters.github.jobs import GitHubJobResolver
from runner_fleet.adapters.github.registry import GitHubRegistry
from runner_fleet.logs import scrub
from runner_fleet.ports.forge import RunnerNameTaken, RunnerScope
from runner_fleet.ports.jobs import JobRef
from runner_fleet.settings.pool import Pool
from simulator.clock import SimClock
from simulator.github import GitHubSimulator, Repository, RunnerGroup
from simulator.server import BackgroundLoop
from simulator.stack import DEMO_GROUP_PLATFORM_DEPLOY, DEMO_INSTALLATION_ID, DEMO_ORG, demo_github_config
from tests.builders import make_pool

pytestmark = pytest.mark.e2e
ORG_POOL = make_pool("org-pool", github={"org": "example-org"})
REPO_POOL = make_pool(
    "repo-pool",
    github={
        "org": "example-org",
        "repositories": ["platform-deploy"],
        "repo_level": True,
        "runner_group_id": 1,
    },
)


@pytest.fixture(scope="module")
def loop() -> Iterator[BackgroundLoop]:
    loop = BackgroundLoop()
    yield loop
    loop.close()


def _start(loop: BackgroundLoop, **overrides: object) -> GitHubSimulator:
    sim = GitHubSimulator(loop, clock=SimClock(20), config=demo_github_config(**overrides))
    sim.start()
    return sim


def _auth(sim: GitHubSimulator) -> GitHubAuth:
    return GitHubAuth(
        GitHubClientOptions(base_url=sim.base_url, seconds_between_writes=None),
        app_id=sim.app_id,
        private_key=sim.app_private_key_pem,
    )


def _registry(sim: GitHubSimulator) -> tuple[GitHubRegistry, GitHubAuth]:
    auth = _auth(sim)
    return GitHubRegistry(auth, base_url=sim.base_url), auth


def _resolver(loop: BackgroundLoop, **overrides: object) -> tuple[GitHubSimulator, GitHubJobResolver]:
    sim = _start(loop, **overrides)
    return sim, GitHubJobResolver(_auth(sim))


async def test_org_jit_registration_round_trip(loop: BackgroundLoop) -> None:
    """An org-level JIT runner is registered with the pool's labels, found, and removed."""
    sim = _start(loop)
    registry, _ = _registry(sim)
    scope = RunnerScope(ORG_POOL, "example-org", None, DEMO_INSTALLATION_ID)
    registration = await registry.register(scope, "rf-org-pool-0000000001")
    assert registration.secret
    assert registration.secret not in repr(registration)
    files = json.loads(base64.b64decode(registration.secret))
    assert json.loads(base64.b64decode(files[".runner"]))["agentName"] == "rf-org-pool-0000000001"
    found = await registry.find(scope, "rf-org-pool-0000000001")
    assert found is not None and found.runner_id == registration.runner_id
    assert set(found.labels) == {"self-hosted", "linux", "x64", "aks-prod"}
    assert await registry.get(scope, registration.runner_id) == found
    assert await registry.remove(scope, registration.runner_id) is True
    assert await registry.remove(scope, registration.runner_id) is False
    assert await registry.get(scope, registration.runner_id) is None
    await registry.close()


async def test_repo_level_registration_uses_the_repository(loop: BackgroundLoop) -> None:
    """A repo-level pool registers its runner on its one repository."""
    sim = _start(loop)
    registry, _ = _registry(sim)
    scope = RunnerScope(REPO_POOL, "example-org", REPO_POOL.registration_repository, DEMO_INSTALLATION_ID)
    registration = await registry.register(scope, "rf-repo-pool-0000000001")
    [runner] = [r for r in sim.runners() if r["name"] == "rf-repo-pool-0000000001"]
    assert (runner["scope"], runner["owner"], runner["repo"]) == (
        "repo",
        "example-org",
        "platform-deploy",
    )
    assert [r.name for r in await registry.list_runners(scope)] == ["rf-repo-pool-0000000001"]
    assert await registry.remove(scope, registration.runner_id)
    await registry.close()


async def test_a_taken_name_raises_runner_name_taken(loop: BackgroundLoop) -> None:
    """Registering a name that exists raises RunnerNameTaken (GitHub's 409)."""
    sim = _start(loop)
    registry, _ = _registry(sim)
    scope = RunnerScope(ORG_POOL, "example-org", None, DEMO_INSTALLATION_ID)
    await registry.register(scope, "rf-org-pool-0000000002")
    with pytest.raises(RunnerNameTaken):
        await registry.register(scope, "rf-org-pool-0000000002")
    await registry.close()


async def test_installation_token_is_cached_until_near_expiry(loop: BackgroundLoop) -> None:
    """Many calls share one installation token; a token close to expiry is replaced."""
    sim = _start(loop)
    registry, _ = _registry(sim)
    scope = RunnerScope(ORG_POOL, "example-org", None, DEMO_INSTALLATION_ID)
    for _ in range(5):
        await registry.list_runners(scope)
    assert sim.stats()["installation_tokens_issued"] == 1
    short_lived = _start(loop, token_ttl_s=120.0)  # under the 5 minute refresh margin
    registry2, _ = _registry(short_lived)
    for _ in range(3):
        await registry2.list_runners(scope)
    assert short_lived.stats()["installation_tokens_issued"] == 3
    await registry.close()
    await registry2.close()


async def test_a_stale_installation_id_falls_back_to_the_orgs_installation(loop: BackgroundLoop) -> None:
    """An event's installation ID that no longer exists is replaced by the org's current installation."""
    sim = _start(loop)
    registry, _ = _registry(sim)
    scope = RunnerScope(ORG_POOL, "example-org", None, installation_id=999)
    assert await registry.list_runners(scope) == []
    await registry.close()


async def test_api_errors_carry_no_response_body(loop: BackgroundLoop) -> None:
    """An API error's text holds GitHub's message only, and registered secrets are scrubbed from logs."""
    sim = _start(loop)
    registry, _ = _registry(sim)
    bad_scope = RunnerScope(
        make_pool("xx", github={"org": "example-org", "runner_group_id": 77}),
        "example-org",
        None,
        DEMO_INSTALLATION_ID,
    )
    with pytest.raises(Exception) as caught:  # noqa: PT011 - any error type; the text is what matters
        await registry.register(bad_scope, "rf-xx-0000000001")
    assert "encoded_jit_config" not in str(caught.value)
    assert scrub(str(caught.value)) == str(caught.value)
    await registry.close()


def _public_and_groups(**overrides: object) -> dict[str, object]:
    return {
        "repositories": (
            Repository(DEMO_ORG, "platform-deploy", 82000001),
            Repository(DEMO_ORG, "docs-site", 82000009, private=False),
        ),
        **overrides,
    }


async def test_the_resolver_reads_labels_and_repository_from_github(loop: BackgroundLoop) -> None:
    """A queued job resolves to the pool its labels and repository on GitHub lead to, not the webhook's."""
    sim, resolver = _resolver(loop)
    job = sim.queue_job(DEMO_ORG, "platform-deploy", ["self-hosted", "aks-prod"], duration_s=3600)
    claimed = JobRef(job["id"], f"{DEMO_ORG}/platform-deploy", org=DEMO_ORG)

    assert (await resolver.resolve(claimed, [ORG_POOL])).pool is ORG_POOL
    dev = make_pool("dev", ("aks-dev",))
    assert (await resolver.resolve(claimed, [dev])).pool is None  # the labels GitHub holds decide
    elsewhere = JobRef(job["id"], f"{DEMO_ORG}/payments-api", org=DEMO_ORG)
    assert (await resolver.resolve(elsewhere, [ORG_POOL])).reason == "job not found"
    sim.cancel_job(job["id"])


async def test_a_replayed_queued_event_resolves_to_no_pool_once_the_job_moved_on(
    loop: BackgroundLoop,
) -> None:
    """A job no longer queued (taken, cancelled, finished) gets no pool however often its event replays."""
    sim, resolver = _resolver(loop)
    job = sim.queue_job(DEMO_ORG, "platform-deploy", ["self-hosted", "aks-prod"], duration_s=3600)
    sim.cancel_job(job["id"])

    resolution = await resolver.resolve(JobRef(job["id"], f"{DEMO_ORG}/platform-deploy"), [ORG_POOL])

    assert resolution.pool is None and "no longer queued" in resolution.reason
    assert await resolver.status(JobRef(job["id"], f"{DEMO_ORG}/platform-deploy")) == "completed"
    assert await resolver.status(JobRef(job["id"], f"{DEMO_ORG}/payments-api")) is None


async def test_public_repositories_need_a_pool_that_allows_them_and_their_forks_never_resolve(
    loop: BackgroundLoop,
) -> None:
    """Rule github.runs.fork-pull-request: a public repository's job needs a pool opting in; forks never."""
    sim, resolver = _resolver(loop, **_public_and_groups())
    oss = make_pool(
        "oss",
        ("aks-prod",),
        github={"org": DEMO_ORG, "runner_group_id": 6, "allow_public_repositories": True},
    )
    public = sim.queue_job(DEMO_ORG, "docs-site", ["aks-prod"], duration_s=3600)
    fork = sim.queue_job(
        DEMO_ORG,
        "docs-site",
        ["aks-prod"],
        duration_s=3600,
        event="pull_request",
        head_repository="mallory/docs",
    )

    refused = await resolver.resolve(JobRef(public["id"], f"{DEMO_ORG}/docs-site"), [ORG_POOL])
    served = await resolver.resolve(JobRef(public["id"], f"{DEMO_ORG}/docs-site"), [ORG_POOL, oss])
    forked = await resolver.resolve(JobRef(fork["id"], f"{DEMO_ORG}/docs-site"), [ORG_POOL, oss])

    assert refused.pool is None and "public repository" in refused.reason
    assert served.pool is oss
    assert forked.pool is None and "fork" in forked.reason
    for job in (public, fork):
        sim.cancel_job(job["id"])


async def test_a_private_repository_costs_one_read_per_job_once_github_said_it_is_private(
    loop: BackgroundLoop,
) -> None:
    """The run is read for a repository's first job; GitHub's word that it is private then spares it."""
    sim, resolver = _resolver(loop)
    jobs = [sim.queue_job(DEMO_ORG, "platform-deploy", ["aks-prod"], duration_s=3600) for _ in range(3)]

    for job in jobs:
        resolution = await resolver.resolve(JobRef(job["id"], f"{DEMO_ORG}/platform-deploy"), [ORG_POOL])
        assert resolution.pool is ORG_POOL

    counts = sim.request_counts()
    assert counts["GET /repos/{owner}/{repo}/actions/jobs/{job_id}"] == {"200": 3}
    assert counts["GET /repos/{owner}/{repo}/actions/runs/{run_id}"] == {"200": 1}
    for job in jobs:
        sim.cancel_job(job["id"])


async def test_the_runner_group_check_passes_a_group_that_fits_the_pool(loop: BackgroundLoop) -> None:
    """github-runner-group passes org-wide pools in all-repository groups, others in their selected group."""
    sim = _start(loop)
    access = GitHubAccess(_auth(sim), base_url=sim.base_url)
    dev = make_pool(
        "dev",
        ("aks-dev",),
        github={
            "org": DEMO_ORG,
            "repositories": ["platform-deploy"],
            "runner_group_id": DEMO_GROUP_PLATFORM_DEPLOY,
        },
    )
    for pool in (ORG_POOL, dev, REPO_POOL):
        [check] = await access.check(pool)
        assert (check.name, check.status) == ("github-runner-group", "pass"), check


async def test_the_runner_group_check_names_each_mismatch_and_its_fix(loop: BackgroundLoop) -> None:
    """github-runner-group fails a group wider than the pool, one open to public repositories, unrestricted
    workflows the pool names, and a group that does not exist, each with a fix."""
    workflow = f"{DEMO_ORG}/platform-deploy/.github/workflows/deploy.yml@refs/heads/main"
    sim = _start(
        loop,
        runner_groups=(
            RunnerGroup(2, "wide"),
            RunnerGroup(
                3,
                "open",
                visibility="selected",
                selected_repositories=(f"{DEMO_ORG}/platform-deploy",),
                allows_public_repositories=True,
            ),
            RunnerGroup(
                4, "narrow", visibility="selected", selected_repositories=(f"{DEMO_ORG}/payments-api",)
            ),
        ),
    )
    access = GitHubAccess(_auth(sim), base_url=sim.base_url)

    def scoped(group: int, **extra: object) -> Pool:
        return make_pool(
            f"p{group}",
            github={"org": DEMO_ORG, "repositories": ["platform-deploy"], "runner_group_id": group, **extra},
        )

    [wide] = await access.check(scoped(2))
    [public] = await access.check(scoped(3))
    [narrow] = await access.check(scoped(4))
    [workflows] = await access.check(scoped(2, allowed_workflows=[workflow]))
    [missing] = await access.check(scoped(9))

    assert all(
        c.status == "fail" and c.fix and "\n" not in c.message
        for c in (wide, public, narrow, workflows, missing)
    )
    assert "admits all repositories" in wide.message and "selected repositories" in wide.fix
    assert "public repositories" in public.message and "Allow public repositories" in public.fix
    assert f"{DEMO_ORG}/payments-api" in narrow.message and f"{DEMO_ORG}/platform-deploy" in narrow.fix
    assert "not restricted to workflows" in workflows.message and workflow in workflows.fix
    assert "no runner group 9" in missing.message
