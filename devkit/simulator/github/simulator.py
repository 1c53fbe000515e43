"""GitHubSimulator: a GitHub (App auth, self-hosted runners, Actions jobs, App webhooks) on loopback.

The real PyGithub talks to it over HTTP; tests and the demo drive it with the methods below, from
any thread, and other processes with the same operations under `/_sim/...`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Middleware

from simulator.clock import SimClock
from simulator.forge import Control, ForgeSimulator, call_with_json, threadsafe
from simulator.github.actions import ActionsService
from simulator.github.api_actions import ActionsRoutes
from simulator.github.api_apps import AppRoutes, DeliveryRoutes
from simulator.github.api_rate_limit import RateLimitRoutes
from simulator.github.api_runner_groups import RunnerGroupRoutes
from simulator.github.api_runners import RunnerProtocolRoutes, RunnerRoutes
from simulator.github.auth import AppJwtVerifier, TokenIssuer, generate_private_key_pem
from simulator.github.config import GitHubSimConfig
from simulator.github.context import SimContext
from simulator.github.directory import Directory
from simulator.github.errors import ApiError, not_found, read_json_object
from simulator.github.metering import HourlyBudgets, RequestLog, metering
from simulator.github.model import Job
from simulator.github.rate_limit import PointsLimiter
from simulator.github.representations import ping_payload, workflow_job_payload
from simulator.github.webhooks import WebhookSender
from simulator.http import HttpError, error_middleware
from simulator.server import BackgroundLoop
from simulator.webhooks import STAT_NAMES as WEBHOOK_STATS


class GitHubSimulator(ForgeSimulator):
    NAME = "GitHub"
    STAT_NAMES = (
        "installation_tokens_issued",
        "jit_configs_issued",
        "jit_configs_rate_limited",
        "primary_rate_limited",
        "runners_connected",
        "runners_deleted",
        "jobs_queued",
        "jobs_started",
        "jobs_success",
        "jobs_cancelled",
        "jobs_expired",
        "jobs_failure",
        # runners whose VM went away while they ran; their running jobs failed when the lock lapsed
        "runners_host_lost",
        "jobs_abandoned",
        *WEBHOOK_STATS,
    )
    ROUTES = (
        AppRoutes,
        RunnerRoutes,
        RunnerGroupRoutes,
        ActionsRoutes,
        DeliveryRoutes,
        RateLimitRoutes,
        RunnerProtocolRoutes,
    )
    SENDER = WebhookSender
    SERVICE = ActionsService
    webhooks: WebhookSender
    service: ActionsService
    context: SimContext

    def __init__(
        self, loop: BackgroundLoop, *, clock: SimClock, config: GitHubSimConfig | None = None
    ) -> None:
        self.config = config or GitHubSimConfig()
        directory = Directory(self.config)
        super().__init__(loop, clock=clock, config=self.config, directory=directory)
        self.app_private_key_pem = self.config.app_private_key_pem or generate_private_key_pem()
        self.context = SimContext(
            config=self.config,
            clock=clock,
            directory=directory,
            app_jwt=AppJwtVerifier(self.config.app_id, self.app_private_key_pem),
            tokens=TokenIssuer(
                static_token=self.config.static_token,
                ttl_s=self.config.token_ttl_s,
                static_user_id=self.config.sender.id,
            ),
            actions=self.service,
            webhooks=self.webhooks,
            stats=self.counters,
            app_owner=self.config.accounts[0],
            budgets=HourlyBudgets(clock=clock, config=self.config.primary_rate_limit, directory=directory),
            requests=RequestLog(),
            points=PointsLimiter(
                clock=clock, config=self.config.points_limit, status=self.config.rate_limit_status
            ),
        )

    @property
    def app_id(self) -> int:
        return self.config.app_id

    def add_webhook(self, url: str, secret: str = "", *, events: Sequence[str] = ("workflow_job",)) -> int:
        """Subscribe `url` to the App's webhook; returns the hook id (X-GitHub-Hook-ID)."""
        return self._on_loop(lambda: self.webhooks.add_hook(url, secret, events).id)

    queue_job = threadsafe(ActionsService.queue_job)
    approve_job = threadsafe(ActionsService.approve_job)
    cancel_job = threadsafe(ActionsService.cancel_job)

    def request_counts(self) -> dict[str, dict[str, int]]:
        """REST requests answered so far: `"METHOD /route/{pattern}": {"status": count}`."""
        return self._on_loop(self.context.requests.snapshot)

    def rate_limits(self) -> dict[str, dict[str, Any]]:
        """Each credential's hourly budget: limit, used, remaining, lowest remaining, refusals, reset."""
        return self._on_loop(self.context.budgets.snapshot)

    def send_ping(self) -> None:
        def ping() -> None:
            for hook in self.webhooks.hooks:
                self.webhooks.publish(
                    "ping",
                    None,
                    ping_payload(self.base_url, hook, self.config),
                    ordering_key=("ping", hook.id),
                    installation_id=None,
                    repository_id=None,
                    hooks=[hook],
                )

        self._on_loop(ping)

    def _publish_job_event(self, action: str, job: Job) -> None:
        installation = self.context.directory.installation_for(job.owner)
        if installation is None:
            # App webhooks only cover accounts the App is installed on.
            return
        self.webhooks.publish(
            "workflow_job",
            action,
            workflow_job_payload(self.base_url, action, job, self.context.directory, self.config),
            ordering_key=("job", job.id),
            installation_id=installation.id,
            repository_id=job.run.repository_id,
            job_id=job.id,
        )

    # -- serving ------------------------------------------------------------------------------
    async def _open(self, base_url: str) -> None:
        self.context.base_url = base_url
        await self.webhooks.open()

    def _stopped_error(self) -> HttpError:
        return ApiError(503, "The simulator has been stopped.")

    def _errors(self) -> Middleware:
        return error_middleware(
            request_id_header="X-GitHub-Request-Id", request_id_chars=20, unrouted=lambda _: not_found()
        )

    def _limits(self) -> Middleware:
        return metering(self.context)

    async def _read_body(self, request: web.Request) -> dict[str, Any]:
        return await read_json_object(request)

    def _forge_control_routes(self) -> list[web.RouteDef]:
        route = self._control
        return [
            route("POST", "/_sim/hooks", self._post_hook, 201),
            route("POST", "/_sim/jobs", lambda c: call_with_json(self.queue_job, c.body), 201),
            route("POST", "/_sim/jobs/{job_id}/approve", lambda c: self.approve_job(c.id("job_id"))),
            route("GET", "/_sim/requests", lambda c: self.request_counts()),
            route("GET", "/_sim/rate-limits", lambda c: self.rate_limits()),
            route("POST", "/_sim/ping", lambda c: self.send_ping(), 202),
        ]

    def _post_hook(self, control: Control) -> dict[str, Any]:
        hook_id = call_with_json(self.add_webhook, control.body)
        events = control.body.get("events", ["workflow_job"])
        return {"id": hook_id, "url": control.body["url"], "events": events}
