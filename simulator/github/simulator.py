"""GitHubSimulator: a GitHub (App auth, self-hosted runners, Actions jobs, App webhooks) on loopback.

The real PyGithub talks to it over HTTP; tests and the demo drive it with the thread-safe methods
below, which run on the simulator's BackgroundLoop.
"""

from __future__ import annotations

import ssl
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from simulator.clock import SimClock
from simulator.github.app import build_app
from simulator.github.auth import generate_private_key_pem
from simulator.github.config import GitHubSimConfig
from simulator.github.core import GitHubCore
from simulator.server import BackgroundLoop
from simulator.webhooks import WebhookFaults

T = TypeVar("T")


class GitHubSimulator:
    def __init__(
        self, loop: BackgroundLoop, *, clock: SimClock, config: GitHubSimConfig | None = None
    ) -> None:
        self._loop = loop
        self.clock = clock
        self.config = config or GitHubSimConfig()
        self.app_private_key_pem = self.config.app_private_key_pem or generate_private_key_pem()
        self._core = GitHubCore(clock=clock, config=self.config, private_key_pem=self.app_private_key_pem)
        self._base_url: str | None = None

    @property
    def app_id(self) -> int:
        return self.config.app_id

    @property
    def base_url(self) -> str:
        if self._base_url is None:
            raise RuntimeError("the GitHub simulator has not been started")
        return self._base_url

    def start(self, *, ssl_context: ssl.SSLContext | None = None, port: int = 0) -> str:
        """Serve on 127.0.0.1 and return the base URL to give PyGithub as `base_url`."""
        if self._base_url is not None:
            return self._base_url
        base_url = self._loop.serve(build_app(self._core), ssl_context=ssl_context, port=port)
        self._loop.call(self._core.open(base_url))
        self._base_url = base_url
        return base_url

    def stop(self) -> None:
        """Stop scheduling and delivering; the listener is released when the BackgroundLoop closes."""
        if self._base_url is not None:
            self._loop.call(self._core.close())

    def _on_loop(self, fn: Callable[[], T]) -> T:
        async def invoke() -> T:
            return fn()

        return self._loop.call(invoke())

    def add_webhook(self, url: str, secret: str, *, events: Sequence[str] = ("workflow_job",)) -> int:
        """Subscribe `url` to the App's webhook; returns the hook id (X-GitHub-Hook-ID)."""
        return self._on_loop(lambda: self._core.add_webhook(url, secret, tuple(events)))

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
        """Start a workflow run with one job and announce it with a `queued` workflow_job webhook.

        `event` is what started the run; `head_repository` (`owner/name`) makes it a pull request
        from that fork, with `head_branch` its branch.
        """
        return self._on_loop(
            lambda: self._core.queue_job(
                owner,
                repo,
                list(labels),
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
        )

    def approve_job(self, job_id: int) -> dict[str, Any]:
        return self._on_loop(lambda: self._core.approve_job(job_id))

    def cancel_job(self, job_id: int) -> dict[str, Any]:
        return self._on_loop(lambda: self._core.cancel_job(job_id))

    def jobs(self) -> list[dict[str, Any]]:
        return self._on_loop(self._core.jobs)

    def runners(self) -> list[dict[str, Any]]:
        """Every registration ever made, removed ones included (flagged `removed`)."""
        return self._on_loop(self._core.runners)

    def deliveries(self) -> list[dict[str, Any]]:
        """Every webhook delivery attempt still retained, oldest first."""
        return self._on_loop(self._core.deliveries)

    def stats(self) -> dict[str, int]:
        return self._on_loop(self._core.stats_snapshot)

    def request_counts(self) -> dict[str, dict[str, int]]:
        """REST requests answered so far: `"METHOD /route/{pattern}": {"status": count}`."""
        return self._on_loop(self._core.request_counts)

    def rate_limits(self) -> dict[str, dict[str, Any]]:
        """Each credential's hourly budget: limit, used, remaining, lowest remaining, refusals, reset."""
        return self._on_loop(self._core.rate_limits)

    def faults(self) -> WebhookFaults:
        return self._on_loop(self._core.faults)

    def set_faults(self, faults: WebhookFaults) -> None:
        self._on_loop(lambda: self._core.set_faults(faults))

    def send_ping(self) -> None:
        self._on_loop(self._core.send_ping)

    def redeliver(self, delivery_id: int) -> None:
        self._on_loop(lambda: self._core.redeliver(delivery_id))
