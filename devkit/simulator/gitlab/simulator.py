"""GitLabSimulator: a GitLab (runner management, CI jobs, Job Hooks) on loopback over plain HTTP.

The real python-gitlab talks to it over HTTP; tests and the demo drive it with the methods below,
from any thread, and other processes with the same operations under `/_sim/...`.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web
from aiohttp.typedefs import Middleware

from simulator.clock import SimClock
from simulator.forge import Control, ForgeSimulator, call_with_json, invalid, threadsafe
from simulator.gitlab.api_jobs import JobRoutes
from simulator.gitlab.api_meta import AccessRoutes, MetaRoutes
from simulator.gitlab.api_runners import RunnerApiRoutes, RunnerRoutes
from simulator.gitlab.auth import Authenticator
from simulator.gitlab.ci import CiService
from simulator.gitlab.config import GitLabSimConfig, Project
from simulator.gitlab.context import GitLabContext
from simulator.gitlab.directory import Directory
from simulator.gitlab.errors import ApiError, read_params
from simulator.gitlab.model import Job, Runner
from simulator.gitlab.payloads import job_hook_payload
from simulator.gitlab.representations import Representer
from simulator.gitlab.throttle import ApiThrottle
from simulator.gitlab.webhooks import Hook, HookScope, WebhookSender
from simulator.http import HttpError, error_middleware
from simulator.server import BackgroundLoop
from simulator.webhooks import STAT_NAMES as WEBHOOK_STATS

ScopeSpec = tuple[str, int | str]


class GitLabSimulator(ForgeSimulator):
    NAME = "GitLab"
    STAT_NAMES = (
        "runners_created",
        "runners_deleted",
        "runners_connected",
        "job_requests",
        "job_requests_empty",
        "jobs_created",
        "jobs_started",
        "jobs_success",
        "jobs_failed",
        "jobs_canceled",
        "jobs_stuck",
        # running jobs whose runner's VM went away, and those of them dropped for want of updates
        "jobs_host_lost",
        "jobs_outdated",
        *WEBHOOK_STATS,
        "webhooks_skipped_disabled",
        "hooks_disabled",
        "api_throttled",
    )
    ROUTES = (MetaRoutes, AccessRoutes, RunnerRoutes, JobRoutes, RunnerApiRoutes)
    SENDER = WebhookSender
    SERVICE = CiService
    webhooks: WebhookSender
    service: CiService
    context: GitLabContext

    def __init__(
        self, loop: BackgroundLoop, *, clock: SimClock, config: GitLabSimConfig | None = None
    ) -> None:
        self.config = config or GitLabSimConfig()
        directory = Directory(self.config)
        super().__init__(loop, clock=clock, config=self.config, directory=directory)
        self.context = GitLabContext(
            config=self.config,
            directory=directory,
            auth=Authenticator(directory),
            ci=self.service,
            urls=Representer(self.config, directory, self.service),
        )

    @property
    def token(self) -> str:
        """The default (admin) personal access token, for python-gitlab's `private_token`."""
        return self.config.tokens[0].token

    @property
    def api_url(self) -> str:
        return f"{self.base_url}/api/v4"

    # -- webhooks -------------------------------------------------------------------------------
    def add_webhook(
        self, url: str, token: str = "", *, signing_token: str | None = None, scope: ScopeSpec
    ) -> int:
        """Add a hook with Job events for a project or a group (and its subgroups); returns its id."""
        return self._on_loop(
            lambda: self.webhooks.add_hook(url, token, signing_token, self._hook_scope(scope)).id
        )

    def hooks(self) -> list[dict[str, Any]]:
        """Every hook with its auto-disabling state (`alert_status`, `recent_failures`, ...)."""
        return self._on_loop(lambda: [hook.snapshot(self.clock.now()) for hook in self.webhooks.hooks])

    def enable_hook(self, hook_id: int) -> dict[str, Any]:
        return self._on_loop(lambda: self.webhooks.enable_hook(hook_id).snapshot(self.clock.now()))

    def remove_hook(self, hook_id: int) -> None:
        self._on_loop(lambda: self.webhooks.remove_hook(hook_id))

    def _hook_scope(self, scope: ScopeSpec) -> HookScope:
        kind, ref = scope
        if kind == "project":
            return HookScope("project", self.context.directory.project(ref).id)
        if kind == "group":
            return HookScope("group", self.context.directory.group(ref).id)
        raise ApiError(400, f"hook scope must be 'project' or 'group', not {kind!r}", key="error")

    def _covers(self, hook: Hook, project: Project) -> bool:
        directory = self.context.directory
        if hook.scope.kind == "project":
            return hook.scope.id == project.id
        return directory.project_in_group(project, directory.group(hook.scope.id))

    def _publish_job_event(self, job: Job) -> None:
        project = self.context.directory.project(job.project_id)
        hooks = [hook for hook in self.webhooks.hooks if self._covers(hook, project)]
        if not hooks:
            return
        payload = job_hook_payload(
            job,
            now=self.clock.now(),
            config=self.config,
            directory=self.context.directory,
            ci=self.service,
            urls=self.context.urls,
        )
        self.webhooks.publish(
            payload, hooks, ordering_key=("job", job.id), job_id=job.id, build_status=job.status
        )

    # -- jobs and runners -----------------------------------------------------------------------
    create_job = threadsafe(CiService.create_job)
    cancel_job = threadsafe(CiService.cancel_job)

    def _runner_snapshot(self, runner: Runner) -> dict[str, Any]:
        status, online = self.service.status_of(runner)
        return {**runner.snapshot(), "status": status, "online": online}

    # -- serving --------------------------------------------------------------------------------
    async def _open(self, base_url: str) -> None:
        self.context.urls.base_url = base_url
        self.webhooks.instance_url = base_url
        await self.webhooks.open()

    def _stopped_error(self) -> HttpError:
        return ApiError(503, "503 Service Unavailable - the simulator has been stopped")

    def _errors(self) -> Middleware:
        return error_middleware(
            request_id_header="X-Request-Id",
            request_id_chars=26,
            unrouted=lambda exc: ApiError(exc.status, f"{exc.status} {exc.reason}", key="error"),
        )

    def _limits(self) -> Middleware:
        limit = self.config.api_rate_limit_per_minute
        throttle = ApiThrottle(
            clock=self.clock, limit=limit, directory=self.context.directory, stats=self.counters
        )
        return throttle.middleware()

    async def _read_body(self, request: web.Request) -> dict[str, Any]:
        return await read_params(request)

    def _forge_control_routes(self) -> list[web.RouteDef]:
        route = self._control
        return [
            route("POST", "/_sim/hooks", self._post_hook, 201),
            route("GET", "/_sim/hooks", lambda c: self.hooks()),
            route("POST", "/_sim/hooks/{hook_id}/enable", lambda c: self.enable_hook(c.id("hook_id"))),
            route("DELETE", "/_sim/hooks/{hook_id}", lambda c: self.remove_hook(c.id("hook_id")), 204),
            route("POST", "/_sim/jobs", lambda c: call_with_json(self.create_job, c.body), 201),
        ]

    def _post_hook(self, control: Control) -> dict[str, Any]:
        body = {**control.body, "scope": _scope(control.body.get("scope"))}
        hook_id = call_with_json(self.add_webhook, body)
        return next(h for h in self.hooks() if h["id"] == hook_id)


def _scope(value: Any) -> ScopeSpec:
    """`{"type": "group", "id": 100}` or `["group", 100]`; the id may be a path."""
    if isinstance(value, dict):
        value = [value.get("type"), value.get("id")]
    if (
        isinstance(value, list)
        and len(value) == 2
        and value[0] in ("project", "group")
        and isinstance(value[1], int | str)
        and not isinstance(value[1], bool)
    ):
        return str(value[0]), value[1]
    raise invalid('\'scope\' must be {"type": "project"|"group", "id": <id or path>}')
