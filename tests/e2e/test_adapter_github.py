"""The GitHub adapter through real PyGithub against the GitHub simulator."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator

import pytest

from runner_fleet.adapters.github.auth import GitHubAuth, GitHubClientOptions
from runner_fleet.adapters.github.registry import GitHubRegistry
from runner_fleet.logs import scrub
from runner_fleet.ports.forge import RunnerNameTaken, RunnerScope
from simulator.clock import SimClock
from simulator.github import GitHubSimulator
from simulator.server import BackgroundLoop
from simulator.stack import DEMO_INSTALLATION_ID, demo_github_config
from tests.builders import make_pool

pytestmark = pytest.mark.e2e
ORG_POOL = make_pool("org-pool", github={"org": "example-org"})
REPO_POOL = make_pool(
    "repo-pool", github={"org": "example-org", "repositories": ["platform-deploy"], "repo_level": True}
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


def _registry(sim: GitHubSimulator) -> tuple[GitHubRegistry, GitHubAuth]:
    auth = GitHubAuth(
        GitHubClientOptions(base_url=sim.base_url, seconds_between_writes=None),
        app_id=sim.app_id,
        private_key=sim.app_private_key_pem,
    )
    return GitHubRegistry(auth, base_url=sim.base_url), auth


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
