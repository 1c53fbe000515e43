"""What is left of the GitLab token's API rate limit, as the last answers said.

GitLab (Rack::Attack `throttle_authenticated_api`, per user) reports `RateLimit-Limit`,
`-Remaining` and `-Reset` (epoch seconds) on its answers when the limit is on; self-managed
instances have it off by default, GitLab.com allows 2,000 requests a minute. python-gitlab already
waits out a 429 as `Retry-After` asks; this is for the reconciler's scan, which should stop before
it uses up what the provision and release steps need, rather than run into the 429 itself.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from runner_fleet.telemetry import metrics

# Left for runner creation and deletion when the scan stops: a handful of provisions and releases.
RESERVE_FRACTION = 0.2
MIN_RESERVE = 20


@dataclass(frozen=True)
class Reading:
    limit: int
    remaining: int
    reset_at: float


class RateLimitObserver:
    """Fed every response (a requests response hook); tells the scan whether it may go on."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._last: Reading | None = None

    def hook(self, response: Any, *args: Any, **kwargs: Any) -> Any:
        headers = response.headers
        try:
            reading = Reading(
                int(headers["RateLimit-Limit"]),
                int(headers["RateLimit-Remaining"]),
                float(headers["RateLimit-Reset"]),
            )
        except (KeyError, ValueError):
            return response  # the limit is off, or an answer that does not say
        with self._lock:
            self._last = reading
        metrics.forge_remaining_seen("gitlab", "token", reading.remaining)
        return response

    @property
    def last(self) -> Reading | None:
        with self._lock:
            return self._last

    def scan_may_spend(self) -> bool:
        """False while the window's remaining requests are down to the reserve."""
        reading = self.last
        if reading is None or self._clock() >= reading.reset_at:
            return True  # no limit reported, or a new window has begun
        reserve = max(MIN_RESERVE, int(reading.limit * RESERVE_FRACTION))
        return reading.remaining > reserve
