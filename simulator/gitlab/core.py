"""One simulated GitLab: its state and the operations tests drive it with.

Not thread-safe: everything here runs on the simulator's event loop. GitLabSimulator is the
thread-safe face for other threads.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from typing import Any

from simulator.clock import SimClock
from simulator.gitlab.auth import Authenticator
from simulator.gitlab.ci import CiService
from simulator.gitlab.config import GitLabSimConfig, Project
from simulator.gitlab.directory import Directory
from simulator.gitlab.errors import ApiError
from simulator.gitlab.model import Job
from simulator.gitlab.payloads import job_hook_payload
from simulator.gitlab.representations import Representer
from simulator.gitlab.webhooks import Hook, HookScope, WebhookSender
from simulator.stats import Stats
from simulator.webhooks import WebhookFaults

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
    "webhook_attempts",
    "webhook_failures",
    "webhook_redeliveries",
    "webhooks_dropped",
    "webhooks_duplicated",
    "webhooks_reordered",
    "webhooks_skipped_disabled",
    "hooks_disabled",
    "api_throttled",
)

ScopeSpec = tuple[str, int | str]


class GitLabCore:
    def __init__(self, *, clock: SimClock, config: GitLabSimConfig) -> None:
        self.config = config
        self.clock = clock
        self.stats = Stats()
        rng = random.Random(config.seed)
        self.directory = Directory(config)
        self.auth = Authenticator(self.directory)
        self.webhooks = WebhookSender(clock=clock, config=config, stats=self.stats, rng=rng)
        self.ci = CiService(
            clock=clock,
            config=config,
            directory=self.directory,
            stats=self.stats,
            on_job_event=self._publish_job_event,
            rng=rng,
        )
        self.urls = Representer(config, self.directory, self.ci)
        self.stopped = False

    @property
    def base_url(self) -> str:
        return self.urls.base_url

    async def open(self, base_url: str) -> None:
        self.urls.base_url = base_url
        await self.webhooks.open(base_url)

    async def close(self) -> None:
        self.stopped = True
        self.ci.shutdown()
        await self.webhooks.close()

    # -- hooks ----------------------------------------------------------------------------

    def add_webhook(self, url: str, token: str, *, signing_token: str | None, scope: ScopeSpec) -> int:
        return self.webhooks.add_hook(url, token, signing_token, self.hook_scope(scope)).id

    def hook_scope(self, scope: ScopeSpec) -> HookScope:
        kind, ref = scope
        if kind == "project":
            return HookScope("project", self.directory.project(ref).id)
        if kind == "group":
            return HookScope("group", self.directory.group(ref).id)
        raise ApiError(400, f"hook scope must be 'project' or 'group', not {kind!r}", key="error")

    def hooks(self) -> list[dict[str, Any]]:
        now = self.clock.now()
        return [hook.snapshot(now) for hook in self.webhooks.hooks]

    def enable_hook(self, hook_id: int) -> dict[str, Any]:
        return self.webhooks.enable_hook(hook_id).snapshot(self.clock.now())

    def remove_hook(self, hook_id: int) -> None:
        self.webhooks.remove_hook(hook_id)

    def _covers(self, hook: Hook, project: Project) -> bool:
        if hook.scope.kind == "project":
            return hook.scope.id == project.id
        return self.directory.project_in_group(project, self.directory.group(hook.scope.id))

    # -- jobs and runners -----------------------------------------------------------------

    def create_job(
        self,
        project: int | str,
        tags: Sequence[str],
        *,
        duration_s: float | None = None,
        name: str = "deploy",
        stage: str = "deploy",
        fail: bool = False,
        environment: str | None = None,
        source_pipeline: bool | Mapping[str, Any] = False,
        ref: str | None = None,
        script: Sequence[str] = (),
    ) -> dict[str, Any]:
        job = self.ci.create_job(
            project,
            tags,
            duration_s=duration_s,
            name=name,
            stage=stage,
            fail=fail,
            environment=environment,
            source_pipeline=source_pipeline,
            ref=ref,
            script=script,
        )
        return job.snapshot()

    def cancel_job(self, job_id: int) -> dict[str, Any]:
        return self.ci.cancel_job(job_id).snapshot()

    def jobs(self) -> list[dict[str, Any]]:
        return [job.snapshot() for job in self.ci.all_jobs()]

    def runners(self) -> list[dict[str, Any]]:
        snapshots = []
        for runner in self.ci.all_runners():
            status, online = self.ci.status_of(runner)
            snapshots.append({**runner.snapshot(), "status": status, "online": online})
        return snapshots

    def runner_token(self, runner_id: int) -> str:
        return self.ci.runner(runner_id).token

    def deliveries(self) -> list[dict[str, Any]]:
        return [delivery.snapshot() for delivery in self.webhooks.deliveries()]

    def redeliver(self, delivery_id: int) -> None:
        self.webhooks.redeliver(delivery_id)

    def stats_snapshot(self) -> dict[str, int]:
        return {**dict.fromkeys(STAT_NAMES, 0), **self.stats.snapshot()}

    def faults(self) -> WebhookFaults:
        return self.webhooks.faults

    def set_faults(self, faults: WebhookFaults) -> None:
        self.webhooks.set_faults(faults)

    def _publish_job_event(self, job: Job) -> None:
        project = self.directory.project(job.project_id)
        hooks = [hook for hook in self.webhooks.hooks if self._covers(hook, project)]
        if not hooks:
            return
        payload = job_hook_payload(
            job,
            now=self.clock.now(),
            config=self.config,
            directory=self.directory,
            ci=self.ci,
            urls=self.urls,
        )
        self.webhooks.publish(
            payload, hooks, ordering_key=("job", job.id), job_id=job.id, build_status=job.status
        )
