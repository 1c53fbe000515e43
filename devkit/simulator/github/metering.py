"""GitHub's primary rate limit: an hourly request budget per credential, reported on every answer.

The window opens with a credential's first request and lasts one *simulated* hour, so it passes
`time_scale` times faster. `x-ratelimit-reset` is nevertheless real UTC epoch seconds: clients
compare it with their own wall clock (PyGithub's GithubRetry sleeps until it), so it says when,
in real time, the simulated hour ends. (Installation tokens, `token_ttl_s`, stay in real seconds for
the opposite reason: there, a scaled hour would only make clients refresh on every call.)

Every REST answer is metered: counted against its credential's hourly budget, with GitHub's headers.

- Each request made with an installation token or a personal access token costs one request of
  that credential's budget, whatever its answer (errors too), except `GET /rate_limit` and a 304.
- Every such answer carries `x-ratelimit-limit`, `-remaining`, `-used`, `-reset`, `-resource`.
- Once the budget is spent, GitHub answers 403 "API rate limit exceeded for installation ID <id>."
  (a personal access token: "... for user ID <id>.") with `x-ratelimit-remaining: 0`, until reset.
- A request to a route the points limit guards (the JIT registration routes, or every route with
  `PointsLimit.all_routes`) also spends points of that credential's per-route window; past 900 a
  minute it is refused with the secondary-limit answer (counted against the hourly budget too).
- A GET answered 200 carries an `ETag`; the same GET with a matching `If-None-Match` is answered
  304 without a body, and is not counted.

App JWT requests (`/app/...`) have a budget of their own that is not modelled; they are counted in
the request log like every other request: every REST request answered, by route and status (what it
cost the caller).
"""

from __future__ import annotations

import hashlib
import math
from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from simulator.clock import SimClock
from simulator.github.config import PrimaryRateLimit
from simulator.github.directory import Directory
from simulator.github.errors import ApiError
from simulator.http import REQUEST_ID

if TYPE_CHECKING:  # the context holds this module's request log
    from simulator.github.context import SimContext

RATE_LIMIT_DOCS = "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api"
# Checking the budget does not spend it ("Calling this endpoint does not count against your primary
# rate limit").
FREE = frozenset({"GET /rate_limit"})

CredentialKind = Literal["installation", "user"]


@dataclass(frozen=True)
class Credential:
    """Whose budget a request spends: an App installation's, or a user's (a personal access token)."""

    kind: CredentialKind
    id: int


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
        self._budgets: dict[Credential, HourlyBudget] = {}

    @property
    def enabled(self) -> bool:
        return self._config.enabled

    def of(self, credential: Credential) -> HourlyBudget:
        budget = self._budgets.get(credential)
        if budget is None:
            budget = HourlyBudget(self._limit_of(credential), self._clock.real(self._config.window_s))
            self._budgets[credential] = budget
        return budget

    def _limit_of(self, credential: Credential) -> int:
        if credential.kind == "user":
            return self._config.user_limit
        account = self._directory.installation(credential.id).account
        return self._config.installation_limit(account, len(self._directory.repos_of(account.login)))

    def snapshot(self) -> dict[str, dict[str, Any]]:
        now = self._clock.now()
        return {f"{who.kind}:{who.id}": budget.snapshot(now) for who, budget in self._budgets.items()}


def route_of(request: web.Request) -> str:
    """The route's pattern (`/repos/{owner}/{repo}/actions/runs`), so calls of one kind count together."""
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else "(no route)"


class RequestLog:
    def __init__(self) -> None:
        self._counts: Counter[tuple[str, int]] = Counter()

    def record(self, request: web.Request, status: int) -> None:
        self._counts[(f"{request.method} {route_of(request)}", status)] += 1

    def snapshot(self) -> dict[str, dict[str, int]]:
        """`"METHOD /route": {"status": count}`."""
        out: dict[str, dict[str, int]] = {}
        for (route, status), count in sorted(self._counts.items()):
            out.setdefault(route, {})[str(status)] = count
        return out


def etag_of(body: bytes) -> str:
    return f'W/"{hashlib.sha256(body).hexdigest()[:32]}"'


def _matches(if_none_match: str, etag: str) -> bool:
    """RFC 9110 weak comparison: `W/` prefixes do not matter; `*` matches anything."""
    wanted = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
    return "*" in wanted or etag.removeprefix("W/") in wanted


def primary_limit_error(
    status: int, credential: Credential, budget: HourlyBudget, request: web.Request, now: float
) -> ApiError:
    who = "installation ID" if credential.kind == "installation" else "user ID"
    request_id = request.get(REQUEST_ID, "")
    return ApiError(
        status,
        f"API rate limit exceeded for {who} {credential.id}. If you reach out to GitHub Support for "
        f"help, please include the request ID {request_id}.",
        headers=budget.headers(now),
        documentation_url=RATE_LIMIT_DOCS,
    )


def _conditional(request: web.Request, response: web.StreamResponse) -> web.StreamResponse:
    if request.method != "GET" or response.status != 200 or not isinstance(response, web.Response):
        return response
    body = response.body
    if not isinstance(body, bytes):
        return response
    etag = etag_of(body)
    if _matches(request.headers.get("If-None-Match", ""), etag):
        return web.Response(status=304, headers={"ETag": etag})
    response.headers["ETag"] = etag
    return response


def metering(ctx: SimContext) -> Middleware:
    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path.startswith("/_sim/"):
            return await handler(request)
        route = f"{request.method} {route_of(request)}"
        pointed = ctx.points.guards(route)
        credential = ctx.tokens.credential(request) if ctx.budgets.enabled or pointed else None
        budget = ctx.budgets.of(credential) if credential is not None and ctx.budgets.enabled else None
        counted = budget is not None and route not in FREE
        now = ctx.clock.now()
        status = 500
        try:
            if counted and budget is not None and credential is not None and budget.exhausted(now):
                budget.refused += 1
                ctx.stats["primary_rate_limited"] += 1
                status = ctx.config.primary_rate_limit.status
                raise primary_limit_error(status, credential, budget, request, now)
            try:
                if pointed and credential is not None:
                    try:
                        ctx.points.admit((credential, route), request.method)
                    except ApiError:
                        ctx.stats["secondary_points_limited"] += 1
                        raise
                response = _conditional(request, await handler(request))
            except ApiError as exc:
                status = exc.status
                if budget is not None:
                    if counted:
                        budget.charge(now)
                    exc.headers.update(budget.headers(now))
                raise
            except web.HTTPException as exc:
                status = exc.status
                raise
            status = response.status
            if budget is not None:
                if counted and status != 304:
                    budget.charge(now)
                response.headers.update(budget.headers(now))
            return response
        finally:
            ctx.requests.record(request, status)

    return middleware
