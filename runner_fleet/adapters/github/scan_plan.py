"""Which repositories the recovery scan reads in a round, and how much of the budget it may leave alone.

Repositories come in two kinds. *Likely* ones: named by a pool, or mentioned by a `workflow_job`
webhook in the last day. The *rest*: every other repository of an org-wide pool's installation,
where a job can wait only if all of its webhooks were lost. A round reads at most
`per_round` repositories, the longest-unread first; the rest always get enough of them to be read
once every `rest_period` rounds, and the likely ones take the remainder. A small installation is
thus read whole every round, a large one in turns.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Sequence

from runner_fleet.settings.pool import Pool

# About one request a repository (its queued runs; 304 when nothing changed): 40 a round is 2,400
# requests an hour at one round a minute, under a fifth of a 12,500 installation budget.
MAX_REPOSITORIES_PER_ROUND = 40
# The rest of an org-wide pool's repositories are each read at least every this many rounds.
REST_PERIOD_ROUNDS = 30
# Runs that are in progress can hold a job still waiting (a later job of a multi-job run, one that
# `needs` another): their listing changes with every run that starts or ends, so it is read only
# every this many reads of a repository.
IN_PROGRESS_EVERY = 10
# A runner costs the fleet a few calls the scan must leave room for: reading its job and the job's
# run before anything is made, its JIT registration, the lookup of a stale registration when a
# provision is repeated, its removal, and reading the job again to confirm its release.
ESSENTIAL_CALLS_PER_RUNNER = 6
MIN_RESERVE = 100


def reserve_for(pools: Sequence[Pool]) -> int:
    """Requests the scan must leave to registrations and removals of `pools` (one credential's).

    A burst can ask a pool to fill every one of its `max_runners` slots at once, and each of those
    runners is later removed: the reserve is what every pool needs to do that once, whatever the
    scan has spent. Registrations are never limited by it; they spend above it too, which shrinks
    the scan's share of the next rounds.
    """
    return max(MIN_RESERVE, ESSENTIAL_CALLS_PER_RUNNER * sum(pool.limits.max_runners for pool in pools))


class ScanPlan:
    """Round-robin over repositories, remembered between rounds (one reconciler, one process)."""

    def __init__(
        self, *, per_round: int = MAX_REPOSITORIES_PER_ROUND, rest_period: int = REST_PERIOD_ROUNDS
    ) -> None:
        self._per_round = per_round
        self._rest_period = rest_period
        self._round = 0
        self._last: dict[str, int] = {}
        self._reads: dict[str, int] = {}

    def next_round(self, likely: Iterable[str], rest: Iterable[str]) -> tuple[list[str], int]:
        """This round's repositories in the order to read them, and how many are left for later."""
        self._round += 1
        likely_set = set(likely)
        rest_list = sorted(set(rest) - likely_set)
        rest_share = min(len(rest_list), math.ceil(len(rest_list) / self._rest_period))
        picked_likely = self._longest_unread(likely_set, self._per_round - rest_share)
        picked_rest = self._longest_unread(rest_list, self._per_round - len(picked_likely))
        picked = picked_likely + picked_rest
        return picked, len(likely_set) + len(rest_list) - len(picked)

    def read(self, repository: str) -> None:
        self._last[repository] = self._round
        self._reads[repository] = self._reads.get(repository, 0) + 1

    def wants_in_progress(self, repository: str) -> bool:
        """Whether this read of `repository` should list its in-progress runs too (the first read
        does, then every `IN_PROGRESS_EVERY`th)."""
        return self._reads.get(repository, 0) % IN_PROGRESS_EVERY == 0

    def _longest_unread(self, repositories: Iterable[str], count: int) -> list[str]:
        if count <= 0:
            return []
        # Never read sorts first; then the oldest read; names break ties so the order is stable.
        return sorted(repositories, key=lambda repo: (self._last.get(repo, -1), repo))[:count]


class RoundPace:
    """The time between scan rounds, measured (the reconciler's timer sets it, not the feed)."""

    def __init__(self, *, default_s: float = 60.0, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._interval = default_s
        self._last: float | None = None
        self._measured = False

    def tick(self) -> float:
        """Note that a round starts now; the smoothed interval between rounds."""
        now = self._clock()
        if self._last is not None and now > self._last:
            gap = now - self._last
            self._interval = 0.7 * self._interval + 0.3 * gap if self._measured else gap
            self._measured = True
        self._last = now
        return self._interval
