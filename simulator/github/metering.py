"""Every REST answer is metered: counted against its credential's hourly budget, with GitHub's headers.

- Each request made with an installation token or a personal access token costs one request of
  that credential's budget, whatever its answer (errors too), except `GET /rate_limit` and a 304.
- Every such answer carries `x-ratelimit-limit`, `-remaining`, `-used`, `-reset`, `-resource`.
- Once the budget is spent, GitHub answers 403 "API rate limit exceeded for installation ID <id>."
  (a personal access token: "... for user ID <id>.") with `x-ratelimit-remaining: 0`, until reset.
- A GET answered 200 carries an `ETag`; the same GET with a matching `If-None-Match` is answered
  304 without a body, and is not counted.

App JWT requests (`/app/...`) have a budget of their own that is not modelled; they are counted in
the request log like every other request.
"""

from __future__ import annotations

import hashlib

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from simulator.github.context import SimContext
from simulator.github.errors import ApiError
from simulator.github.hourly_budget import Credential, HourlyBudget
from simulator.github.request_log import route_of
from simulator.github.wire import REQUEST_ID

RATE_LIMIT_DOCS = "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api"
# Checking the budget does not spend it ("Calling this endpoint does not count against your primary
# rate limit").
FREE = frozenset({"GET /rate_limit"})


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
        credential = ctx.tokens.credential(request) if ctx.budgets.enabled else None
        budget = ctx.budgets.of(credential) if credential is not None else None
        counted = budget is not None and f"{request.method} {route_of(request)}" not in FREE
        now = ctx.clock.now()
        status = 500
        try:
            if counted and budget is not None and credential is not None and budget.exhausted(now):
                budget.refused += 1
                ctx.stats.incr("primary_rate_limited")
                status = ctx.config.primary_rate_limit.status
                raise primary_limit_error(status, credential, budget, request, now)
            try:
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
