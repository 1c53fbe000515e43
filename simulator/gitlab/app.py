"""The aiohttp application that serves one simulated GitLab."""

from __future__ import annotations

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from simulator.gitlab.api_access import AccessRoutes
from simulator.gitlab.api_control import ControlRoutes
from simulator.gitlab.api_jobs import JobRoutes
from simulator.gitlab.api_meta import MetaRoutes
from simulator.gitlab.api_runner_protocol import RunnerApiRoutes
from simulator.gitlab.api_runners import RunnerRoutes
from simulator.gitlab.core import GitLabCore
from simulator.gitlab.errors import ApiError
from simulator.gitlab.throttle import ApiThrottle
from simulator.gitlab.wire import gitlab_errors


def _refuse_when_stopped(core: GitLabCore) -> Middleware:
    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if core.stopped:
            raise ApiError(503, "503 Service Unavailable - the simulator has been stopped")
        return await handler(request)

    return middleware


def build_app(core: GitLabCore) -> web.Application:
    throttle = ApiThrottle(
        clock=core.clock,
        limit=core.config.api_rate_limit_per_minute,
        directory=core.directory,
        stats=core.stats,
    )
    app = web.Application(middlewares=[gitlab_errors, _refuse_when_stopped(core), throttle.middleware()])
    app.add_routes(MetaRoutes(core).routes())
    app.add_routes(AccessRoutes(core).routes())
    app.add_routes(RunnerRoutes(core).routes())
    app.add_routes(JobRoutes(core).routes())
    app.add_routes(RunnerApiRoutes(core).routes())
    app.add_routes(ControlRoutes(core).routes())
    return app
