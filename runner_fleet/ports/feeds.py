"""Asking a forge which jobs are waiting for a runner: how missed webhooks are recovered."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from runner_fleet.messages import ProvisionRequest
from runner_fleet.settings.pool import Pool


@dataclass(frozen=True)
class WaitingJob:
    request: ProvisionRequest  # what the webhook would have enqueued
    waiting_since: float  # epoch seconds the forge says the job has been waiting
    # The pool the job would go to, when the request leaves it to the provision step (GitLab): used
    # to count runners already coming for that pool.
    pool_hint: str = ""


class JobFeed(Protocol):
    async def waiting_jobs(self, pools: list[Pool]) -> list[WaitingJob]:
        """Jobs still waiting for a runner that one of `pools` could serve."""

    async def redeliver_failed(self, since_s: float) -> int:
        """Ask the forge to redeliver webhooks that failed in the last `since_s` seconds; how many."""

    async def close(self) -> None: ...


@dataclass(frozen=True)
class ScanCoverage:
    """How much of the forge one `waiting_jobs` call looked at."""

    scanned: int  # repositories (or projects) read this round
    skipped: int  # due this round but left for a later one: the request budget ran short
    not_due: int = 0  # left for a later round by the rotation that spreads the scan


@runtime_checkable
class ReportsCoverage(Protocol):
    """A feed that reads only part of the forge each round says how much (optional for feeds)."""

    def last_coverage(self) -> ScanCoverage | None: ...
