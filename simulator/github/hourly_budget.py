"""GitHub's primary rate limit: an hourly request budget per credential, reported on every answer.

The window opens with a credential's first request and lasts one *simulated* hour, so it passes
`time_scale` times faster. `x-ratelimit-reset` is nevertheless real UTC epoch seconds: clients
compare it with their own wall clock (PyGithub's GithubRetry sleeps until it), so it says when,
in real time, the simulated hour ends. (Installation tokens, `token_ttl_s`, stay in real seconds for
the opposite reason: there, a scaled hour would only make clients refresh on every call.)
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

from simulator.clock import SimClock
from simulator.github.config import PrimaryRateLimit
from simulator.github.directory import Directory

CredentialKind = Literal["installation", "user"]


@dataclass(frozen=True)
class Credential:
    """Whose budget a request spends: an App installation's, or a user's (a personal access token)."""

    kind: CredentialKind
    id: int

    @property
    def key(self) -> str:
        return f"{self.kind}:{self.id}"


class HourlyBudget:
    def __init__(self, limit: int, window_real_s: float) -> None:
        self.limit = limit
        self._window = window_real_s
        self._start: float | None = None
        self.used = 0
        self.lowest_remaining = limit
        self.refused = 0
        self.charged_total = 0  # every window's requests together

    def _roll(self, now: float) -> None:
        if self._start is None or now >= self._start + self._window:
            self._start, self.used = now, 0

    @property
    def remaining(self) -> int:
        return max(0, self.limit - self.used)

    def exhausted(self, now: float) -> bool:
        self._roll(now)
        return self.used >= self.limit

    def charge(self, now: float) -> None:
        self._roll(now)
        self.used += 1
        self.charged_total += 1
        self.lowest_remaining = min(self.lowest_remaining, self.remaining)

    def reset_at(self, now: float) -> float:
        return (self._start if self._start is not None else now) + self._window

    def headers(self, now: float) -> dict[str, str]:
        return {
            "x-ratelimit-limit": str(self.limit),
            "x-ratelimit-remaining": str(self.remaining),
            "x-ratelimit-used": str(self.used),
            "x-ratelimit-reset": str(math.ceil(self.reset_at(now))),
            "x-ratelimit-resource": "core",
        }

    def core_json(self, now: float) -> dict[str, Any]:
        """The `core` entry of `GET /rate_limit`."""
        self._roll(now)
        return {
            "limit": self.limit,
            "remaining": self.remaining,
            "reset": math.ceil(self.reset_at(now)),
            "used": self.used,
            "resource": "core",
        }

    def snapshot(self, now: float) -> dict[str, Any]:
        return {
            "limit": self.limit,
            "used": self.used,
            "remaining": self.remaining,
            "lowest_remaining": self.lowest_remaining,
            "refused": self.refused,
            "charged_total": self.charged_total,
            "reset": math.ceil(self.reset_at(now)),
        }


class HourlyBudgets:
    """One budget per credential, its limit set by GitHub's rules when first used."""

    def __init__(self, *, clock: SimClock, config: PrimaryRateLimit, directory: Directory) -> None:
        self._clock = clock
        self._config = config
        self._directory = directory
        self._budgets: dict[str, HourlyBudget] = {}

    @property
    def enabled(self) -> bool:
        return self._config.enabled

    def of(self, credential: Credential) -> HourlyBudget:
        budget = self._budgets.get(credential.key)
        if budget is None:
            budget = HourlyBudget(self._limit_of(credential), self._clock.real(self._config.window_s))
            self._budgets[credential.key] = budget
        return budget

    def _limit_of(self, credential: Credential) -> int:
        if credential.kind == "user":
            return self._config.user_limit
        account = self._directory.installation(credential.id).account
        return self._config.installation_limit(account, len(self._directory.repos_of(account.login)))

    def snapshot(self) -> dict[str, dict[str, Any]]:
        now = self._clock.now()
        return {key: budget.snapshot(now) for key, budget in self._budgets.items()}
