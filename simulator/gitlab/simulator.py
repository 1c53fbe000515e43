"""GitLabSimulator: a GitLab (runner management, CI jobs, Job Hooks) on loopback over plain HTTP.

The real python-gitlab talks to it over HTTP; tests and the demo drive it with the thread-safe
methods below, which run on the simulator's BackgroundLoop.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from simulator.clock import SimClock
from simulator.gitlab.app import build_app
from simulator.gitlab.config import GitLabSimConfig
from simulator.gitlab.core import GitLabCore, ScopeSpec
from simulator.server import BackgroundLoop
from simulator.webhooks import WebhookFaults

T = TypeVar("T")


class GitLabSimulator:
    def __init__(
        self, loop: BackgroundLoop, *, clock: SimClock, config: GitLabSimConfig | None = None
    ) -> None:
        self._loop = loop
        self.clock = clock
        self.config = config or GitLabSimConfig()
        self._core = GitLabCore(clock=clock, config=self.config)
        self._base_url: str | None = None

    @property
    def token(self) -> str:
        """The default (admin) personal access token, for python-gitlab's `private_token`."""
        return self.config.tokens[0].token

    @property
    def base_url(self) -> str:
        if self._base_url is None:
            raise RuntimeError("the GitLab simulator has not been started")
        return self._base_url

    @property
    def api_url(self) -> str:
        return f"{self.base_url}/api/v4"

    def start(self, *, port: int = 0) -> str:
        """Serve on 127.0.0.1 and return the GitLab URL (without /api/v4) for `gitlab.Gitlab(url=...)`."""
        if self._base_url is not None:
            return self._base_url
        base_url = self._loop.serve(build_app(self._core), port=port)
        self._loop.call(self._core.open(base_url))
        self._base_url = base_url
        return base_url

    def stop(self) -> None:
        """Stop scheduling and delivering; the listener is released when the BackgroundLoop closes."""
        if self._base_url is not None:
            self._loop.call(self._core.close())

    def _on_loop(self, fn: Callable[[], T]) -> T:
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is self._loop.loop:  # already on the simulator's thread: blocking would deadlock
            return fn()

        async def invoke() -> T:
            return fn()

        return self._loop.call(invoke())

    # -- webhooks -------------------------------------------------------------------------

    def add_webhook(self, url: str, token: str, *, signing_token: str | None = None, scope: ScopeSpec) -> int:
        """Add a hook with Job events for a project or a group (and its subgroups); returns its id."""
        return self._on_loop(
            lambda: self._core.add_webhook(url, token, signing_token=signing_token, scope=scope)
        )

    def hooks(self) -> list[dict[str, Any]]:
        """Every hook with its auto-disabling state (`alert_status`, `recent_failures`, ...)."""
        return self._on_loop(self._core.hooks)

    def enable_hook(self, hook_id: int) -> dict[str, Any]:
        return self._on_loop(lambda: self._core.enable_hook(hook_id))

    def remove_hook(self, hook_id: int) -> None:
        self._on_loop(lambda: self._core.remove_hook(hook_id))

    def deliveries(self) -> list[dict[str, Any]]:
        """Every Job Hook delivery attempt still retained, oldest first."""
        return self._on_loop(self._core.deliveries)

    def redeliver(self, delivery_id: int) -> None:
        """Resend a delivery with its original event UUID and Idempotency-Key."""
        self._on_loop(lambda: self._core.redeliver(delivery_id))

    def faults(self) -> WebhookFaults:
        return self._on_loop(self._core.faults)

    def set_faults(self, faults: WebhookFaults | None = None, **changes: Any) -> WebhookFaults:
        """Replace the delivery faults, or change some of them (`set_faults(drop_probability=1.0)`)."""

        def apply() -> WebhookFaults:
            base = faults or self._core.faults()
            updated = dataclasses.replace(base, **changes)
            self._core.set_faults(updated)
            return updated

        return self._on_loop(apply)

    # -- jobs and runners -----------------------------------------------------------------

    def create_job(
        self,
        project_id: int | str,
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
        """Start a pipeline with one job and announce it with `created` then `pending` Job Hooks."""
        return self._on_loop(
            lambda: self._core.create_job(
                project_id,
                list(tags),
                duration_s=duration_s,
                name=name,
                stage=stage,
                fail=fail,
                environment=environment,
                source_pipeline=source_pipeline,
                ref=ref,
                script=tuple(script),
            )
        )

    def cancel_job(self, job_id: int) -> dict[str, Any]:
        return self._on_loop(lambda: self._core.cancel_job(job_id))

    def jobs(self) -> list[dict[str, Any]]:
        return self._on_loop(self._core.jobs)

    def job(self, job_id: int) -> dict[str, Any]:
        return next(j for j in self.jobs() if j["id"] == job_id)

    def runners(self) -> list[dict[str, Any]]:
        """Every registration ever made, deleted ones included (flagged `deleted`)."""
        return self._on_loop(self._core.runners)

    def runner(self, runner_id: int) -> dict[str, Any]:
        return next(r for r in self.runners() if r["id"] == runner_id)

    def stats(self) -> dict[str, int]:
        return self._on_loop(self._core.stats_snapshot)
