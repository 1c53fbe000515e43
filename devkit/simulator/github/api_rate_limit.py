"""`GET /rate_limit`: the caller's budgets, without spending any of the primary one."""

from __future__ import annotations

import math
from typing import Any

from aiohttp import web

from simulator.forge import Routes
from simulator.github.context import SimContext
from simulator.github.errors import ApiError
from simulator.http import json_response

# Budgets of other resources, shown as GitHub shows them for a fresh window; not enforced.
_OTHER_RESOURCES = {"search": 30, "graphql": 5000, "code_search": 10, "integration_manifest": 5000}


class RateLimitRoutes(Routes[SimContext]):
    def routes(self) -> list[web.RouteDef]:
        return [web.get("/rate_limit", self.rate_limit)]

    async def rate_limit(self, request: web.Request) -> web.Response:
        self._ctx.tokens.principal(request)  # 401 for what is not a working token
        credential = self._ctx.tokens.credential(request)
        if credential is None or not self._ctx.budgets.enabled:
            raise ApiError(404, "Rate limiting is not enabled.")
        now = self._ctx.clock.now()
        core = self._ctx.budgets.of(credential).core_json(now)
        resources: dict[str, Any] = {"core": core}
        for name, limit in _OTHER_RESOURCES.items():
            resources[name] = {
                "limit": limit,
                "remaining": limit,
                "reset": math.ceil(now + 60),
                "used": 0,
                "resource": name,
            }
        return json_response({"resources": resources, "rate": core})
