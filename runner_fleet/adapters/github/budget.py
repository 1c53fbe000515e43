"""One GitHub credential's hourly request budget, as its answers report it, and the waits GitHub asks for.

Every answer carries `x-ratelimit-limit`, `-remaining`, `-used`, `-reset` (UTC epoch seconds) and
`-resource`; the budget keeps the latest of them per credential (one installation, or the one
token). Rate-limit refusals follow GitHub's guidance ("Rate limits for the REST API", "Exceeding the
rate limit"): with `retry-after`, wait that long; with `x-ratelimit-remaining: 0`, wait until
`x-ratelimit-reset`; otherwise wait at least a minute, longer each time it happens again.

Pure logic: the clock is injected, nothing here makes a request.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from runner_fleet.ports.forge import ForgeRateLimited
from runner_fleet.telemetry import metrics

# GitHub: "Otherwise, wait for at least one minute before retrying", then exponentially longer.
SECONDARY_WAIT_S = 60.0
MAX_SECONDARY_WAIT_S = 15 * 60.0
# Before any answer has told us the budget (or after its window reset), the scan may probe with
# this many requests; the first answer then gives the real figures.
UNKNOWN_ALLOWANCE = 50
PRIMARY_MESSAGE = "api rate limit exceeded"
_SECONDARY_MESSAGES = (
    "you have exceeded a secondary rate limit",
    "please retry your request again later.",
    "please wait a few minutes before you try again.",
)


def _header(headers: Mapping[str, Any], name: str) -> str | None:
    for key, value in headers.items():
        if str(key).lower() == name:
            return str(value)
    return None


def _number(headers: Mapping[str, Any], name: str) -> float | None:
    raw = _header(headers, name)
    try:
        return float(raw) if raw is not None else None
    except ValueError:
        return None


@dataclass(frozen=True)
class RateLimitReading:
    """What one answer said about the primary budget."""

    limit: int
    remaining: int
    reset_at: float  # UTC epoch seconds
    used: int | None = None
    resource: str = "core"

    @classmethod
    def of(cls, headers: Mapping[str, Any]) -> RateLimitReading | None:
        limit = _number(headers, "x-ratelimit-limit")
        remaining = _number(headers, "x-ratelimit-remaining")
        reset = _number(headers, "x-ratelimit-reset")
        if limit is None or remaining is None or reset is None:
            return None
        used = _number(headers, "x-ratelimit-used")
        return cls(
            int(limit),
            int(remaining),
            reset,
            int(used) if used is not None else None,
            _header(headers, "x-ratelimit-resource") or "core",
        )


class RateLimited(ForgeRateLimited):
    """GitHub asked for no more requests with this credential until `retry_at` (epoch seconds)."""

    def __init__(self, credential: str, retry_at: float, *, primary: bool, now: float) -> None:
        kind = "primary rate limit exhausted" if primary else "secondary rate limit"
        super().__init__(max(1.0, retry_at - now), f"GitHub {kind} for {credential}")
        self.credential = credential
        self.retry_at = retry_at
        self.primary = primary


def is_secondary_message(message: str) -> bool:
    lowered = message.lower()
    return lowered.startswith(_SECONDARY_MESSAGES[0]) or lowered.endswith(_SECONDARY_MESSAGES[1:])


class CredentialBudget:
    """The primary budget of one credential and any wait GitHub imposed on it. Thread-safe."""

    def __init__(self, credential: str, *, clock: Callable[[], float] = time.time) -> None:
        self.credential = credential
        self._clock = clock
        self._lock = threading.Lock()
        self._reading: RateLimitReading | None = None
        self._lowest: int | None = None  # the least `remaining` seen in the current window
        self._blocked_until = 0.0
        self._blocked_primary = False
        self._secondary_strikes = 0

    # -- what GitHub said ----------------------------------------------------------------------
    def observe(self, headers: Mapping[str, Any]) -> None:
        """Take in the rate-limit headers of one answer (answers may arrive out of order)."""
        reading = RateLimitReading.of(headers)
        if reading is None or reading.resource != "core":
            return
        metrics.forge_remaining_seen("github", self.credential, reading.remaining)
        with self._lock:
            current = self._reading
            if current is None or reading.reset_at > current.reset_at:
                self._reading, self._lowest = reading, reading.remaining
            elif reading.reset_at == current.reset_at and reading.remaining < current.remaining:
                # Concurrent answers of one window: the lowest count is the latest.
                self._reading = reading
                self._lowest = (
                    reading.remaining if self._lowest is None else min(self._lowest, reading.remaining)
                )

    def succeeded(self) -> None:
        """An answer that was not a rate limit: the secondary back-off starts over next time."""
        with self._lock:
            self._secondary_strikes = 0

    def refused(self, status: int, headers: Mapping[str, Any], message: str) -> RateLimited | None:
        """If this error answer is a rate limit, remember the wait it asks for and say so."""
        if status not in (403, 429):
            return None
        self.observe(headers)
        now = self._clock()
        retry_after = _number(headers, "retry-after")
        remaining = _number(headers, "x-ratelimit-remaining")
        reset = _number(headers, "x-ratelimit-reset")
        secondary = is_secondary_message(message)
        primary = not secondary and (remaining == 0 or message.lower().startswith(PRIMARY_MESSAGE))
        if status == 403 and retry_after is None and remaining != 0 and not (secondary or primary):
            return None  # a permission error, not a rate limit
        with self._lock:
            if retry_after is not None:
                until = now + retry_after
            elif remaining == 0 and reset is not None:
                until = reset
            else:
                self._secondary_strikes += 1
                until = now + min(MAX_SECONDARY_WAIT_S, SECONDARY_WAIT_S * 2 ** (self._secondary_strikes - 1))
            if until > self._blocked_until:
                self._blocked_until, self._blocked_primary = until, primary
        return RateLimited(self.credential, until, primary=primary, now=now)

    # -- what we may do ------------------------------------------------------------------------
    def check(self) -> None:
        """Raise `RateLimited` while GitHub's last word was to wait; otherwise any call may go.

        This is the only refusal registrations meet: the reserve below never applies to them.
        """
        now = self._clock()
        with self._lock:
            blocked_until, primary = self._blocked_until, self._blocked_primary
            reading = self._reading
        if now < blocked_until:
            raise RateLimited(self.credential, blocked_until, primary=primary, now=now)
        if reading is not None and reading.remaining <= 0 and now < reading.reset_at:
            raise RateLimited(self.credential, reading.reset_at, primary=True, now=now)

    def remaining(self) -> int | None:
        """Requests left in the current window, or None when no answer of this window is known."""
        reading = self._current()
        return None if reading is None else reading.remaining

    def limit(self) -> int | None:
        reading = self._current()
        return None if reading is None else reading.limit

    def scan_allowance(self, reserve: int, round_s: float) -> int:
        """How many counted requests a background scan may spend this round.

        The scan may never take the budget below `reserve` (capped at half the limit, so a large
        reserve cannot stop the scan for good), and spreads what is above it over the rounds left
        until the window resets, so that it slows down instead of spending the hour in minutes.
        """
        now = self._clock()
        with self._lock:
            if now < self._blocked_until:
                return 0
        reading = self._current()
        if reading is None:
            return UNKNOWN_ALLOWANCE
        spare = reading.remaining - min(reserve, reading.limit // 2)
        if spare <= 0:
            return 0
        rounds_left = max(1.0, (reading.reset_at - now) / max(round_s, 1e-3))
        return max(1, math.floor(spare / rounds_left))

    def above_reserve(self, reserve: int) -> bool:
        """Whether a scan request may still go: GitHub has not asked us to wait and more than the
        reserve is left."""
        now = self._clock()
        with self._lock:
            if now < self._blocked_until:
                return False
        reading = self._current()
        return reading is None or reading.remaining > min(reserve, reading.limit // 2)

    def describe(self) -> dict[str, Any]:
        reading = self._current()
        with self._lock:
            lowest, blocked_until = self._lowest, self._blocked_until
        return {
            "credential": self.credential,
            "limit": reading.limit if reading else None,
            "remaining": reading.remaining if reading else None,
            "lowest_remaining": lowest if reading else None,
            "reset_at": reading.reset_at if reading else None,
            "blocked_until": blocked_until or None,
        }

    def _current(self) -> RateLimitReading | None:
        with self._lock:
            reading = self._reading
        if reading is None or self._clock() >= reading.reset_at:
            return None  # the window reset: the next answer tells the new figures
        return reading


class Budgets:
    """One `CredentialBudget` per credential name, made on first use."""

    def __init__(self, *, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._budgets: dict[str, CredentialBudget] = {}

    def of(self, credential: str) -> CredentialBudget:
        with self._lock:
            budget = self._budgets.get(credential)
            if budget is None:
                budget = self._budgets[credential] = CredentialBudget(credential, clock=self._clock)
            return budget

    def all(self) -> list[CredentialBudget]:
        with self._lock:
            return list(self._budgets.values())
