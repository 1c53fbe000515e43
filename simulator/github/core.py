"""One simulated GitHub: its state and the operations tests drive it with.

Not thread-safe: everything here runs on the simulator's event loop. GitHubSimulator is the
thread-safe face for other threads.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

from simulator.clock import SimClock
from simulator.github.actions import ActionsService
from simulator.github.auth import AppJwtVerifier, TokenIssuer
from simulator.github.config import GitHubSimConfig
from simulator.github.context import SimContext
from simulator.github.directory import Directory
from simulator.github.hourly_budget import HourlyBudgets
from simulator.github.model import Job
from simulator.github.representations import ping_payload, workflow_job_payload
from simulator.github.request_log import RequestLog
from simulator.github.webhooks import WebhookSender
from simulator.stats import Stats
from simulator.webhooks import WebhookFaults

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
    "webhook_attempts",
    "webhook_failures",
    "webhook_redeliveries",
    "webhooks_dropped",
    "webhooks_duplicated",
    "webhooks_reordered",
)


class GitHubCore:
    def __init__(self, *, clock: SimClock, config: GitHubSimConfig, private_key_pem: str) -> None:
        self.config = config
        self.clock = clock
        self._stats = Stats()
        rng = random.Random(config.seed)
        self.directory = Directory(config)
        self.webhooks = WebhookSender(
            clock=clock,
            app_id=config.app_id,
            latency_s=config.webhook_latency_s,
            timeout_s=config.webhook_timeout_s,
            retention_s=config.delivery_retention_s,
            faults=config.faults,
            stats=self._stats,
            rng=rng,
        )
        self.actions = ActionsService(
            clock=clock,
            config=config,
            directory=self.directory,
            stats=self._stats,
            on_job_event=self._publish_job_event,
            rng=rng,
        )
        self.context = SimContext(
            config=config,
            clock=clock,
            directory=self.directory,
            app_jwt=AppJwtVerifier(config.app_id, private_key_pem),
            tokens=TokenIssuer(
                static_token=config.static_token, ttl_s=config.token_ttl_s, static_user_id=config.sender.id
            ),
            actions=self.actions,
            webhooks=self.webhooks,
            stats=self._stats,
            app_owner=config.accounts[0],
            budgets=HourlyBudgets(clock=clock, config=config.primary_rate_limit, directory=self.directory),
            requests=RequestLog(),
        )

    async def open(self, base_url: str) -> None:
        self.context.base_url = base_url
        await self.webhooks.open()

    async def close(self) -> None:
        self.context.stopped = True
        self.actions.shutdown()
        await self.webhooks.close()

    def add_webhook(self, url: str, secret: str, events: Sequence[str]) -> int:
        return self.webhooks.add_hook(url, secret, events).id

    def queue_job(
        self,
        owner: str,
        repo: str,
        labels: Sequence[str],
        *,
        duration_s: float | None = None,
        name: str = "build",
        workflow_name: str = "CI",
        waiting: bool = False,
        hosted_runner_name: str | None = None,
        event: str = "push",
        head_repository: str | None = None,
        head_branch: str | None = None,
        workflow_path: str = ".github/workflows/ci.yml",
    ) -> dict[str, Any]:
        job = self.actions.queue_job(
            owner,
            repo,
            labels,
            duration_s=duration_s,
            name=name,
            workflow_name=workflow_name,
            waiting=waiting,
            hosted_runner_name=hosted_runner_name,
            event=event,
            head_repository=head_repository,
            head_branch=head_branch,
            workflow_path=workflow_path,
        )
        return job.snapshot()

    def cancel_job(self, job_id: int) -> dict[str, Any]:
        return self.actions.cancel_job(job_id).snapshot()

    def approve_job(self, job_id: int) -> dict[str, Any]:
        return self.actions.approve_job(job_id).snapshot()

    def jobs(self) -> list[dict[str, Any]]:
        return [job.snapshot() for job in self.actions.all_jobs()]

    def runners(self) -> list[dict[str, Any]]:
        return [runner.snapshot() for runner in self.actions.all_runners()]

    def deliveries(self) -> list[dict[str, Any]]:
        return [delivery.snapshot() for delivery in self.webhooks.deliveries()]

    def stats_snapshot(self) -> dict[str, int]:
        return {**dict.fromkeys(STAT_NAMES, 0), **self._stats.snapshot()}

    def request_counts(self) -> dict[str, dict[str, int]]:
        return self.context.requests.snapshot()

    def rate_limits(self) -> dict[str, dict[str, Any]]:
        return self.context.budgets.snapshot()

    def faults(self) -> WebhookFaults:
        return self.webhooks.faults

    def set_faults(self, faults: WebhookFaults) -> None:
        self.webhooks.set_faults(faults)

    def send_ping(self) -> None:
        for hook in self.webhooks.hooks:
            self.webhooks.publish(
                "ping",
                None,
                ping_payload(self.context.base_url, hook, self.config),
                ordering_key=("ping", hook.id),
                installation_id=None,
                repository_id=None,
                hooks=[hook],
            )

    def redeliver(self, delivery_id: int) -> None:
        self.webhooks.redeliver(delivery_id)

    def _publish_job_event(self, action: str, job: Job) -> None:
        installation = self.directory.installation_for(job.owner)
        if installation is None:
            # App webhooks only cover accounts the App is installed on.
            return
        self.webhooks.publish(
            "workflow_job",
            action,
            workflow_job_payload(self.context.base_url, action, job, self.directory, self.config),
            ordering_key=("job", job.id),
            installation_id=installation.id,
            repository_id=job.run.repository_id,
            job_id=job.id,
        )
