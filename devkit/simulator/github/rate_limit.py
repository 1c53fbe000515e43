"""GitHub's cap on runner registrations per organisation or repository in a sliding window."""

from __future__ import annotations

import math
import time
from collections import deque

from simulator.clock import SimClock
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
            # Retry-After is read by real clients sleeping in real time, so it is not scaled.
            wait = max(1, math.ceil(history[0] + self._window_real - now))
            raise ApiError(
                self._status,
                SECONDARY_RATE_LIMIT_MESSAGE,
                headers={"Retry-After": str(wait)},
                documentation_url="https://docs.github.com/rest/overview/rate-limits-for-the-rest-api",
            )
        history.append(now)
