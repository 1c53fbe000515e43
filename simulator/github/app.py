"""The aiohttp application that serves one simulated GitHub."""

from __future__ import annotations

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from simulator.github.api_actions import ActionsRoutes
from simulator.github.api_apps import AppRoutes
from simulator.github.api_control import ControlRoutes
from simulator.github.api_deliveries import DeliveryRoutes
from simulator.github.api_rate_limit import RateLimitRoutes
from simulator.github.api_runner_groups import RunnerGroupRoutes
from simulator.github.api_runner_protocol import RunnerProtocolRoutes
from simulator.github.api_runners import RunnerRoutes
from simulator.github.context import SimContext
from simulator.github.core import GitHubCore
from simulator.github.errors import ApiError
from simulator.github.metering import metering
from simulator.github.wire import github_errors


def _refuse_when_stopped(ctx: SimContext) -> Middleware:
    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if ctx.stopped:
            raise ApiError(503, "The simulator has been stopped.")
        return await handler(request)

    return middleware


def build_app(core: GitHubCore) -> web.Application:
    ctx = core.context
    app = web.Application(middlewares=[github_errors, _refuse_when_stopped(ctx), metering(ctx)])
    app.add_routes(AppRoutes(ctx).routes())
    app.add_routes(RunnerRoutes(ctx).routes())
    app.add_routes(RunnerGroupRoutes(ctx).routes())
    app.add_routes(ActionsRoutes(ctx).routes())
    app.add_routes(DeliveryRoutes(ctx).routes())
    app.add_routes(RateLimitRoutes(ctx).routes())
    app.add_routes(RunnerProtocolRoutes(ctx).routes())
    app.add_routes(ControlRoutes(core).routes())
    return app
