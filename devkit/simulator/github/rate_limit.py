"""GitHub's secondary rate limits modelled here: the cap on runner registrations per organisation or
repository in a sliding window, and the points per minute a credential may spend on one endpoint."""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Hashable

from simulator.clock import SimClock
from simulator.github.config import PointsLimit
from simulator.github.errors import ApiError

SECONDARY_RATE_LIMIT_MESSAGE = (
    "You have exceeded a secondary rate limit. Please wait a few minutes before you try again. "
    "If you reach out to GitHub Support for help, please include the request ID."
)


class RegistrationLimiter:
    def __init__(self, *, clock: SimClock, limit: int, window_s: float, status: int) -> None:
        self._window_real = clock.real(window_s)
        self._limit = limit
        self._status = status
        self._history: dict[str, deque[float]] = {}

    def admit(self, key: str) -> None:
        """Count one registration against `key`, or raise GitHub's secondary rate-limit error."""
        now = time.monotonic()
        history = self._history.setdefault(key, deque())
        while history and history[0] <= now - self._window_real:
            history.popleft()
        if len(history) >= self._limit:
            raise secondary_limit_error(self._status, history[0] + self._window_real - now)
        history.append(now)


def secondary_limit_error(status: int, wait_real_s: float) -> ApiError:
    """GitHub's secondary rate-limit answer, with `Retry-After` in real seconds (clients sleep in
    real time, so it is not scaled)."""
    return ApiError(
        status,
        SECONDARY_RATE_LIMIT_MESSAGE,
        headers={"Retry-After": str(max(1, math.ceil(wait_real_s)))},
        documentation_url="https://docs.github.com/rest/overview/rate-limits-for-the-rest-api",
    )


JIT_ROUTES = frozenset(
    {
        "POST /orgs/{org}/actions/runners/generate-jitconfig",
        "POST /repos/{owner}/{repo}/actions/runners/generate-jitconfig",
    }
)


class PointsLimiter:
    """GitHub's points-per-minute secondary limit per endpoint: each request of a credential to a
    route costs points (`PointsLimit.cost`); once a sliding window holds `points_per_window`, further
    requests to that route are refused until enough points have aged out."""

    def __init__(self, *, clock: SimClock, config: PointsLimit, status: int) -> None:
        self._config = config
        self._window_real = clock.real(config.window_s)
        self._status = status
        self._history: dict[Hashable, deque[tuple[float, int]]] = {}
        self._used: dict[Hashable, int] = {}
        self.refused = 0

    def guards(self, route: str) -> bool:
        """Whether requests to `route` (`METHOD /pattern`) are limited."""
        return self._config.enabled and (self._config.all_routes or route in JIT_ROUTES)

    def admit(self, key: Hashable, method: str) -> None:
        """Charge one request to `key` (a credential and route), or raise the secondary-limit error."""
        cost = self._config.cost(method)
        now = time.monotonic()
        history = self._history.setdefault(key, deque())
        used = self._used.get(key, 0)
        while history and history[0][0] <= now - self._window_real:
            used -= history.popleft()[1]
        if used + cost > self._config.points_per_window:
            # Wait until the oldest requests have aged out enough to make room for this one.
            freed, wait = used, 0.0
            for at, points in history:
                freed -= points
                wait = at + self._window_real - now
                if freed + cost <= self._config.points_per_window:
                    break
            self._used[key] = used
            self.refused += 1
            raise secondary_limit_error(self._status, wait)
        history.append((now, cost))
        self._used[key] = used + cost
