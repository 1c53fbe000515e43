"""Repositories named by recent webhooks: noted on the webhook path, read (and aged out) by the scan."""

from __future__ import annotations

from runner_fleet.adapters.memory.queue import MemoryWorkQueue
from runner_fleet.adapters.memory.state import MemoryStateTable
from runner_fleet.settings.pool import Pool
from runner_fleet.state.recent_repositories import KEEP_S, RecentRepositories
from runner_fleet.state.store import FleetState
from runner_fleet.usecases.accept_github_webhook import GitHubIntake
from tests.builders import WEBHOOK_SECRET, event, make_pool, signed


class Clock:
    def __init__(self) -> None:
        self.t = 1_800_000_000.0

    def __call__(self) -> float:
        return self.t


async def test_noted_repositories_are_listed_per_org() -> None:
    """A repository noted for an org is listed for that org only, whatever the case of the org's name."""
    recent = RecentRepositories(MemoryStateTable())
    await recent.note("Example-Org", "Example-Org/web")
    await recent.note("other", "other/api")
    assert await recent.of_org("example-org") == {"Example-Org/web"}


async def test_mentions_older_than_a_day_are_dropped() -> None:
    """GitHub cancels a job that waited 24 h: older mentions are deleted when the list is read."""
    table, clock = MemoryStateTable(), Clock()
    recent = RecentRepositories(table, clock=clock)
    await recent.note("org", "org/old")
    clock.t += KEEP_S - 1
    await recent.note("org", "org/new")
    clock.t += 2
    assert await recent.of_org("org") == {"org/new"}
    assert len(await table.query("recent-repository-github")) == 1


async def _webhook(payload: str, pool: Pool) -> tuple[int, set[str]]:
    """The status a signed event `payload` is answered with, then the repositories noted for example-org."""
    state = FleetState(MemoryStateTable())
    intake = GitHubIntake(WEBHOOK_SECRET.encode(), (pool,), MemoryWorkQueue(), state)
    outcome = await intake.handle(*signed(event(payload)))
    return outcome.status, await RecentRepositories(state.table).of_org("example-org")


async def test_an_accepted_queued_webhook_notes_its_repository() -> None:
    """A queued job that a pool serves points the scan at its repository."""
    status, noted = await _webhook("workflow_job.queued.json", make_pool("aks-prod"))
    assert (status, noted) == (202, {"example-org/platform-deploy"})


async def test_a_job_waiting_for_approval_notes_its_repository_too() -> None:
    """Once approved, only the scan can see the job: its repository is noted though nothing is enqueued."""
    status, noted = await _webhook("workflow_job.queued_waiting.json", make_pool("aks-prod"))
    assert (status, noted) == (200, {"example-org/platform-deploy"})


async def test_a_job_no_pool_serves_notes_nothing() -> None:
    """A repository whose jobs no pool serves is no reason to scan it."""
    assert await _webhook("workflow_job.queued.json", make_pool("aks-dev", ("aks-dev",))) == (200, set())
