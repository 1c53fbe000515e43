"""Recover missed GitHub webhooks: failed App deliveries are redelivered, waiting jobs are listed.

The scan for waiting jobs shares its credential's hourly budget with JIT registration, which gives
jobs their runners; so it reads only part of the installation each round (`scan_plan`), asks with
conditional requests (a 304 is free), and stops before it would take the budget below the reserve
that registrations and removals may need (`budget`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from github import Auth, Github, GithubException

from runner_fleet.adapters.github.auth import GitHubAuth, retry_policy
from runner_fleet.adapters.github.budget import RateLimited
from runner_fleet.adapters.github.calls import Session
from runner_fleet.adapters.github.deliveries import DeliveryLog, epoch
from runner_fleet.adapters.github.etag_cache import EtagCache
from runner_fleet.adapters.github.scan_plan import (
    MAX_REPOSITORIES_PER_ROUND,
    RoundPace,
    ScanPlan,
    reserve_for,
)
from runner_fleet.logs import get_logger
from runner_fleet.matching import match_github_pool, serves_repository
from runner_fleet.messages import ProvisionRequest
from runner_fleet.ports.feeds import ScanCoverage, WaitingJob
from runner_fleet.provenance import from_fork, is_public
from runner_fleet.settings.pool import Pool
from runner_fleet.state.recent_repositories import RecentRepositories

log = get_logger("github.feed")

# Bound the installation's repository list (org-wide pools), and read it again only every this many
# rounds: repositories come and go rarely, and the list is paginated.
MAX_REPOSITORIES = 5000
INSTALLATION_REPOSITORIES_EVERY = 10


def waiting_job(
    job: dict[str, Any], run: dict[str, Any], pools: list[Pool], *, org: str, repository: str
) -> WaitingJob | None:
    """What the `queued` webhook would have enqueued for a job found waiting, if a pool serves it.

    The run the job was listed under says whether its repository is public and whether it comes from
    a fork: no extra request is needed to leave those jobs alone.
    """
    if job.get("status") != "queued":
        return None  # waiting for an approval, or no longer waiting at all
    public = is_public(run.get("repository"))
    if public and from_fork(run):
        return None
    pool = match_github_pool(job.get("labels", []), pools, org=org, repository=repository, public=public)
    if pool is None:
        return None
    request = ProvisionRequest(
        forge="github",
        pool=pool.name,
        job_id=int(job["id"]),
        org=org,
        repository=repository,
        labels=tuple(job.get("labels", [])),
        delivery_id="reconcile",
    )
    return WaitingJob(request, epoch(job.get("created_at") or run.get("created_at")))


class _Spent(Exception):
    """The scan's share of the budget for this round is used up."""


def _check(may_spend: Callable[[], bool]) -> None:
    if not may_spend():
        raise _Spent


@dataclass
class _OrgScan:
    """What one org's part of a round found and cost."""

    jobs: list[tuple[dict[str, Any], dict[str, Any], str]] = field(default_factory=list)
    scanned: int = 0
    skipped: int = 0
    not_due: int = 0
    counted: int = 0  # answers that counted against the primary limit (not 304)


class GitHubFeed:
    def __init__(
        self,
        auth: GitHubAuth,
        *,
        base_url: str,
        app_id: int | None = None,
        private_key: str | None = None,
        recent: RecentRepositories | None = None,
        per_round: int = MAX_REPOSITORIES_PER_ROUND,
        pace: RoundPace | None = None,
    ) -> None:
        self._auth = auth
        self._app = (
            Github(auth=Auth.AppAuth(app_id, private_key), base_url=base_url, retry=retry_policy(3))
            if app_id and private_key
            else None
        )
        self._recent = recent
        self._per_round = per_round
        self._plans: dict[str, ScanPlan] = {}
        self._pace = pace or RoundPace()
        self._etags = EtagCache()
        self._deliveries = DeliveryLog()
        self._installation_repositories: dict[str, tuple[int, dict[str, bool]]] = {}
        self._rounds = 0
        self._coverage: ScanCoverage | None = None

    def last_coverage(self) -> ScanCoverage | None:
        return self._coverage

    async def waiting_jobs(self, pools: list[Pool]) -> list[WaitingJob]:
        github_pools = [pool for pool in pools if pool.github is not None]
        recent: dict[str, set[str]] = {}
        for org in {pool.github.org for pool in github_pools if pool.github is not None}:
            recent[org] = await self._recent.of_org(org) if self._recent is not None else set()
        return await asyncio.to_thread(self._waiting, github_pools, recent)

    def _waiting(self, pools: list[Pool], recent: dict[str, set[str]]) -> list[WaitingJob]:
        self._rounds += 1
        round_s = self._pace.tick()
        found: dict[int, WaitingJob] = {}
        totals = _OrgScan()
        for org, likely in self._likely_repositories(pools, recent).items():
            org_pools = [p for p in pools if p.github is not None and p.github.org == org]
            scan = self._scan_org(org, org_pools, likely, round_s)
            totals.scanned += scan.scanned
            totals.skipped += scan.skipped
            totals.not_due += scan.not_due
            for job, run, full_name in scan.jobs:
                waiting = waiting_job(job, run, pools, org=org, repository=full_name)
                if waiting is not None:
                    found.setdefault(waiting.request.job_id, waiting)
        self._coverage = ScanCoverage(totals.scanned, totals.skipped, totals.not_due)
        return list(found.values())

    def _likely_repositories(self, pools: list[Pool], recent: dict[str, set[str]]) -> dict[str, set[str]]:
        """Per org: the repositories pools name, and those recent webhooks mentioned that a pool serves."""
        likely: dict[str, set[str]] = {}
        for pool in pools:
            assert pool.github is not None
            org = pool.github.org
            served = {r for r in recent.get(org, set()) if serves_repository(pool, org, r)}
            likely.setdefault(org, set()).update(set(pool.github.repository_names) | served)
        return likely

    def _scan_org(self, org: str, pools: Sequence[Pool], likely: set[str], round_s: float) -> _OrgScan:
        scan = _OrgScan()
        session = self._auth.session(org)
        reserve = reserve_for(pools)
        allowance = session.budget.scan_allowance(reserve, round_s)

        def may_spend() -> bool:
            return scan.counted < allowance and session.budget.above_reserve(reserve)

        org_wide = any(not p.github or not p.github.repositories for p in pools)
        # Only repositories a pool may serve: public ones only for a pool that takes them.
        public_too = any(
            p.github and not p.github.repositories and p.github.allow_public_repositories for p in pools
        )
        rest = self._installation_repos(session, org, scan, may_spend, public_too) if org_wide else set()
        plan = self._plans.setdefault(org, ScanPlan(per_round=self._per_round))
        planned, scan.not_due = plan.next_round(likely, rest)
        for index, full_name in enumerate(planned):
            try:
                self._scan_repository(session, full_name, plan.wants_in_progress(full_name), scan, may_spend)
            except (RateLimited, _Spent):
                scan.skipped = len(planned) - index
                break
            except GithubException as exc:
                # A repository renamed or removed since it was listed; the others still matter.
                log.warning("github.scan_repository_failed", repository=full_name, status=exc.status)
            plan.read(full_name)
            scan.scanned += 1
        if scan.skipped:
            log.warning(
                "github.scan_stopped",
                org=org,
                scanned=scan.scanned,
                skipped=scan.skipped,
                reserve=reserve,
                allowance=allowance,
                **session.budget.describe(),
            )
        return scan

    def _installation_repos(
        self, session: Session, org: str, scan: _OrgScan, may_spend: Callable[[], bool], public_too: bool
    ) -> set[str]:
        """An org-wide pool's repositories of `org` (public ones only with `public_too`), read again
        every few rounds (the last list meanwhile)."""
        known = self._installation_repositories.get(org)
        if known is None or self._rounds - known[0] >= INSTALLATION_REPOSITORIES_EVERY:
            known = self._read_installation_repos(session, org, scan, may_spend, known)
        return {name for name, public in known[1].items() if public_too or not public}

    def _read_installation_repos(
        self,
        session: Session,
        org: str,
        scan: _OrgScan,
        may_spend: Callable[[], bool],
        known: tuple[int, dict[str, bool]] | None,
    ) -> tuple[int, dict[str, bool]]:
        """Every repository of the installation and whether it is public."""
        names: dict[str, bool] = {}
        page = 1
        try:
            while len(names) < MAX_REPOSITORIES:
                _check(may_spend)
                answer = self._etags.get(
                    session, "/installation/repositories", {"per_page": 100, "page": page}
                )
                scan.counted += 0 if answer.not_modified else 1
                batch = answer.data.get("repositories", []) if isinstance(answer.data, dict) else []
                names.update((str(r["full_name"]), is_public(r)) for r in batch)
                if len(batch) < 100:
                    break
                page += 1
        except (RateLimited, _Spent):
            return known if known is not None else (self._rounds, names)
        self._installation_repositories[org] = (self._rounds, names)
        return self._installation_repositories[org]

    def _scan_repository(
        self,
        session: Session,
        full_name: str,
        in_progress: bool,
        scan: _OrgScan,
        may_spend: Callable[[], bool],
    ) -> None:
        # A run still queued holds jobs that wait; a job of an in-progress run can wait too (a
        # later job of a multi-job run), but that listing changes all the time: read it less often.
        for status in ["queued", "in_progress"] if in_progress else ["queued"]:
            runs_url = f"/repos/{full_name}/actions/runs"
            _check(may_spend)
            answer = self._etags.get(session, runs_url, {"status": status, "per_page": 100})
            scan.counted += 0 if answer.not_modified else 1
            runs = answer.data.get("workflow_runs", []) if isinstance(answer.data, dict) else []
            for run in runs:
                jobs_url = f"/repos/{full_name}/actions/runs/{int(run['id'])}/jobs"
                parameters = {"per_page": 100}
                # The jobs of a queued run cannot change while the run does not (the first to start
                # makes it in_progress): an unchanged list of queued runs needs no more requests.
                unchanged = answer.not_modified and status == "queued"
                jobs = self._etags.cached(jobs_url, parameters) if unchanged else None
                if jobs is None:
                    _check(may_spend)
                    jobs_answer = self._etags.get(session, jobs_url, parameters)
                    scan.counted += 0 if jobs_answer.not_modified else 1
                    jobs = jobs_answer.data
                # Jobs waiting for an environment approval ("waiting") get no runner yet.
                scan.jobs.extend(
                    (job, run, full_name)
                    for job in (jobs.get("jobs", []) if isinstance(jobs, dict) else [])
                    if job.get("status") == "queued"
                )

    async def redeliver_failed(self, since_s: float) -> int:
        if self._app is None:
            return 0  # only a GitHub App's hook has a deliveries API
        session = Session(self._app, self._auth.budgets.of("app"))
        return await asyncio.to_thread(self._deliveries.redeliver_failed, session, since_s)

    async def close(self) -> None:
        if self._app is not None:
            await asyncio.to_thread(self._app.close)
