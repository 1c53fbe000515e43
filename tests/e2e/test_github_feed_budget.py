"""The GitHub feed and registry share one installation budget: the scan yields, registration does not.

Real PyGithub against the GitHub simulator, whose installations have an hourly budget.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Iterator

import pytest

from runner_fleet.adapters.github.auth import GitHubAuth, GitHubClientOptions
from runner_fleet.adapters.github.budget import RateLimited
from runner_fleet.adapters.github.feed import GitHubFeed
from runner_fleet.adapters.github.registry import GitHubRegistry
from runner_fleet.adapters.github.scan_plan import RoundPace, reserve_for
from runner_fleet.ports.feeds import ScanCoverage
from runner_fleet.ports.forge import RunnerScope
from simulator.clock import SimClock
from simulator.github import GitHubSimulator, PrimaryRateLimit, Repository
from simulator.github.testing import HookReceiver
from simulator.server import BackgroundLoop
from simulator.stack import DEMO_INSTALLATION_ID, DEMO_ORG, demo_github_config
from simulator.testing import wait_until
from tests.builders import make_pool

pytestmark = pytest.mark.e2e
POOL = make_pool("org-pool", github={"org": DEMO_ORG})
LABELS = ["self-hosted", "aks-prod"]
BUDGET = f"installation:{DEMO_INSTALLATION_ID}"
JITCONFIG = "POST /orgs/{org}/actions/runners/generate-jitconfig"


@pytest.fixture(scope="module")
def loop() -> Iterator[BackgroundLoop]:
    loop = BackgroundLoop()
    yield loop
    loop.close()


def _start(
    loop: BackgroundLoop, *, repositories: int = 2, limit: int = 5000, **overrides: object
) -> GitHubSimulator:
    config = demo_github_config(
        repositories=tuple(Repository(DEMO_ORG, f"repo-{i:02d}", 82100000 + i) for i in range(repositories)),
        primary_rate_limit=PrimaryRateLimit(base=limit, per_extra=0),
        **overrides,
    )
    sim = GitHubSimulator(loop, clock=SimClock(20), config=config)
    sim.start()
    return sim


def _adapters(sim: GitHubSimulator, pace: RoundPace | None = None) -> tuple[GitHubFeed, GitHubRegistry]:
    auth = GitHubAuth(
        GitHubClientOptions(base_url=sim.base_url, seconds_between_writes=None),
        app_id=sim.app_id,
        private_key=sim.app_private_key_pem,
    )
    feed = GitHubFeed(
        auth, base_url=sim.base_url, app_id=sim.app_id, private_key=sim.app_private_key_pem, pace=pace
    )
    return feed, GitHubRegistry(auth, base_url=sim.base_url)


def _remaining(sim: GitHubSimulator) -> int:
    return int(sim.rate_limits()[BUDGET]["remaining"])


async def test_the_scan_stops_at_the_reserve_and_registration_still_succeeds(loop: BackgroundLoop) -> None:
    """The scan stops at the reserve and skips the rest; a registration below the reserve still goes."""
    sim = _start(loop, repositories=30, limit=260)  # the reserve (100) is under half of it
    for i in range(30):  # no webhook hook: every job waits, every repository costs its runs and jobs
        sim.queue_job(DEMO_ORG, f"repo-{i:02d}", LABELS)
    minutes = itertools.count(step=60)  # rounds a minute apart, as the reconciler's timer runs them
    feed, registry = _adapters(sim, RoundPace(clock=lambda: float(next(minutes))))
    scope = RunnerScope(POOL, DEMO_ORG, None, DEMO_INSTALLATION_ID)
    reserve = reserve_for([POOL])
    while len(sim.rate_limits()) == 0 or _remaining(sim) > reserve + 5:
        await registry.list_runners(scope)  # other work of the fleet spends the budget
    found: set[int] = set()
    for _ in range(20):
        found |= {job.request.job_id for job in await feed.waiting_jobs([POOL])}
        assert _remaining(sim) >= reserve
        if _remaining(sim) == reserve:
            break
    await feed.waiting_jobs([POOL])
    assert feed.last_coverage() == ScanCoverage(scanned=0, skipped=30, not_due=0)
    assert _remaining(sim) == reserve and found
    registration = await registry.register(scope, "rf-a-1")
    assert registration.runner_id > 0
    assert _remaining(sim) == reserve - 1
    await feed.close()
    await registry.close()


async def test_a_spent_budget_defers_registration_without_hammering(loop: BackgroundLoop) -> None:
    """After GitHub's "API rate limit exceeded", registrations defer until the reset, sending nothing."""
    sim = _start(loop, limit=3)
    _, registry = _adapters(sim)
    _, other_instance = _adapters(sim)
    scope = RunnerScope(POOL, DEMO_ORG, None, DEMO_INSTALLATION_ID)
    await registry.register(scope, "rf-b-0")
    await other_instance.register(scope, "rf-b-1")
    await other_instance.register(scope, "rf-b-2")
    with pytest.raises(RateLimited) as caught:
        await registry.register(scope, "rf-b-3")
    assert caught.value.primary and caught.value.retry_after_s > 1
    with pytest.raises(RateLimited):
        await registry.register(scope, "rf-b-4")
    assert sim.request_counts()[JITCONFIG] == {"201": 3, "403": 1}
    await registry.close()
    await other_instance.close()


async def test_a_secondary_limit_is_waited_out_not_slept_through(loop: BackgroundLoop) -> None:
    """A 403 with Retry-After defers for that long at once: no sleep, no retry, no further request."""
    sim = _start(loop, registrations_per_window=1)
    _, registry = _adapters(sim)
    scope = RunnerScope(POOL, DEMO_ORG, None, DEMO_INSTALLATION_ID)
    await registry.register(scope, "rf-c-0")
    with pytest.raises(RateLimited) as caught:
        await registry.register(scope, "rf-c-1")
    window_s = sim.config.registration_window_s / 20  # real seconds at time scale 20
    assert not caught.value.primary and 1 <= caught.value.retry_after_s <= window_s
    with pytest.raises(RateLimited):
        await registry.register(scope, "rf-c-2")
    assert sim.request_counts()[JITCONFIG] == {"201": 1, "403": 1}
    await registry.close()


async def test_an_unchanged_installation_costs_nothing_the_next_round(loop: BackgroundLoop) -> None:
    """The second round over unchanged repositories is answered 304 throughout and spends no budget."""
    sim = _start(loop, repositories=5)
    for i in range(5):
        sim.queue_job(DEMO_ORG, f"repo-{i:02d}", LABELS)
    feed, _ = _adapters(sim)
    first = await feed.waiting_jobs([POOL])
    spent = _remaining(sim)
    second = await feed.waiting_jobs([POOL])
    assert {j.request.job_id for j in second} == {j.request.job_id for j in first} and len(first) == 5
    assert _remaining(sim) == spent
    assert sim.request_counts()["GET /repos/{owner}/{repo}/actions/runs"].get("304") == 5
    await feed.close()


async def test_failed_deliveries_on_later_pages_are_redelivered(loop: BackgroundLoop) -> None:
    """Deliveries are read page by page (Link cursor): a failure 100 deliveries back is redelivered once."""
    sim = _start(loop)
    feed, _ = _adapters(sim)
    async with HookReceiver() as receiver:
        sim.add_webhook(receiver.url, "s3cret")
        sim.set_faults(sim.faults().updated({"drop_probability": 1.0}))
        for i in range(2):
            sim.queue_job(DEMO_ORG, f"repo-{i:02d}", ["self-hosted", "gpu"])
        await wait_until(lambda: len(sim.deliveries()) == 2)
        sim.set_faults(sim.faults().updated({"drop_probability": 0.0}))
        for _ in range(110):
            sim.send_ping()
        await wait_until(lambda: len(sim.deliveries()) == 112, within_s=30)
        assert await feed.redeliver_failed(3600) == 2
        assert sim.request_counts()["GET /app/hook/deliveries"] == {"200": 2}
        await wait_until(lambda: len(receiver.received) == 112, within_s=30)
        assert await feed.redeliver_failed(3600) == 0
        assert sim.request_counts()["POST /app/hook/deliveries/{delivery_id}/attempts"] == {"202": 2}
    await asyncio.to_thread(sim.stop)
    await feed.close()


async def test_the_scan_reads_and_recovers_only_what_a_pool_may_serve(loop: BackgroundLoop) -> None:
    """Public repositories are scanned only for pools serving them, and their forks' PRs never recovered."""
    config = demo_github_config(
        repositories=(
            Repository(DEMO_ORG, "private-app", 82100001),
            Repository(DEMO_ORG, "public-site", 82100002, private=False),
        ),
    )
    sim = GitHubSimulator(loop, clock=SimClock(20), config=config)
    sim.start()
    private = sim.queue_job(DEMO_ORG, "private-app", LABELS, duration_s=3600)
    fork = sim.queue_job(
        DEMO_ORG,
        "public-site",
        LABELS,
        duration_s=3600,
        event="pull_request",
        head_repository="eve/public-site",
    )
    public = sim.queue_job(DEMO_ORG, "public-site", LABELS, duration_s=3600)
    feed, _ = _adapters(sim)

    waiting = {job.request.job_id for job in await feed.waiting_jobs([POOL])}
    private_only = feed.last_coverage()
    opted = make_pool("oss", github={"org": DEMO_ORG, "allow_public_repositories": True})
    with_public = {job.request.job_id for job in await feed.waiting_jobs([opted])}

    assert waiting == {private["id"]}
    assert private_only is not None and private_only.scanned == 1  # the public repository was not read
    assert with_public == {private["id"], public["id"]}
    assert fork["id"] not in waiting | with_public
    for job in (private, fork, public):
        sim.cancel_job(job["id"])
    await feed.close()
