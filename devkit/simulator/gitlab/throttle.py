"""GitLab's authenticated API rate limit (Rack::Attack `throttle_authenticated_api`), per user.

Read from GitLab's docs ("User and IP rate limits": off by default on self-managed instances;
"GitLab.com rate limits": 2,000 authenticated API requests a minute) and from responses observed on
GitLab.com: every API answer carries `RateLimit-Name`, `-Limit`, `-Observed`, `-Remaining` and
`-Reset` (Unix epoch seconds); a refused request gets 429 with a plain-text `Retry later` body and
adds `RateLimit-ResetTime` (an HTTP date) and `Retry-After` (seconds). Rack::Attack counts in fixed
windows aligned to the epoch. The window is a simulated minute; the epoch times are real, since
clients compare them with their own clocks.
"""

from __future__ import annotations

import math
import time
from collections import Counter
from email.utils import formatdate

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from simulator.clock import SimClock
from simulator.gitlab.auth import presented_token
from simulator.gitlab.directory import Directory

NAME = "throttle_authenticated_api"
PERIOD_S = 60.0


class ApiThrottle:
    def __init__(
        self, *, clock: SimClock, limit: int | None, directory: Directory, stats: Counter[str]
    ) -> None:
        self._period = clock.real(PERIOD_S)
        self._limit = limit
        self._directory = directory
        self._stats = stats
        self._counts: Counter[tuple[str, int]] = Counter()

    def middleware(self) -> Middleware:
        @web.middleware
        async def throttle(request: web.Request, handler: Handler) -> web.StreamResponse:
            user = self._user(request)
            if self._limit is None or user is None:
                return await handler(request)
            window = math.floor(time.time() / self._period)
            self._counts[(user, window)] += 1
            observed = self._counts[(user, window)]
            reset = (window + 1) * self._period
            headers = {
                "RateLimit-Name": NAME,
                "RateLimit-Limit": str(self._limit),
                "RateLimit-Observed": str(observed),
                "RateLimit-Remaining": str(max(0, self._limit - observed)),
                "RateLimit-Reset": str(math.ceil(reset)),
            }
            if observed > self._limit:
                self._stats["api_throttled"] += 1
                retry = max(1, math.ceil(reset - time.time()))
                headers |= {"RateLimit-ResetTime": formatdate(reset, usegmt=True), "Retry-After": str(retry)}
                return web.Response(status=429, text="Retry later\n", headers=headers)
            response = await handler(request)
            response.headers.update(headers)
            return response

        return throttle

    def _user(self, request: web.Request) -> str | None:
        """The user of a personal access token on the REST API; runner and job tokens are not counted."""
        if not request.path.startswith("/api/v4/"):
            return None
        raw = presented_token(request)
        token = self._directory.token(raw) if raw else None
        return token.username if token is not None else None
