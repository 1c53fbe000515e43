"""Helpers for code tested against the GitLab simulator.

A webhook receiver that records what arrives, and a runner client that speaks the simulated
runner protocol the way a runner VM does.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from multidict import CIMultiDict

from simulator.gitlab.simulator import GitLabSimulator
from simulator.testing import HookReceiver as BaseHookReceiver
from simulator.testing import ReceivedHook as BaseReceivedHook
from simulator.testing import eventually

SimulatorFactory = Callable[..., GitLabSimulator]


@dataclass(frozen=True)
class ReceivedHook(BaseReceivedHook):
    @property
    def event(self) -> str:
        return self.headers["X-Gitlab-Event"]

    @property
    def build_status(self) -> str:
        return str(self.payload["build_status"])

    @property
    def job_id(self) -> int:
        return int(self.payload["build_id"])

    @property
    def event_uuid(self) -> str:
        return self.headers["X-Gitlab-Event-UUID"]

    @property
    def idempotency_key(self) -> str:
        return self.headers["Idempotency-Key"]


class HookReceiver(BaseHookReceiver[ReceivedHook]):
    """Records Job Hooks (see `simulator.testing.HookReceiver`)."""

    def _parse(self, headers: CIMultiDict[str], body: bytes) -> ReceivedHook:
        return ReceivedHook(headers, body)

    def for_job(self, job_id: int) -> list[ReceivedHook]:
        return [hook for hook in self.received if hook.job_id == job_id]

    async def wait_for_statuses(self, job_id: int, count: int, *, within_s: float = 5.0) -> list[str]:
        """The build statuses of the first `count` Job Hooks about `job_id`, in arrival order."""
        await self.wait_for(lambda _: len(self.for_job(job_id)) >= count, within_s=within_s)
        return [hook.build_status for hook in self.for_job(job_id)]


@dataclass(frozen=True)
class TakenJob:
    """What `POST /jobs/request` hands a runner: the job's id, its job token and its variables."""

    id: int
    token: str = field(repr=False)
    variables: dict[str, str] = field(repr=False)
    script: list[str]


class RunnerClient:
    """What gitlab-runner does with a `glrt-` token, over GitLab's runner API."""

    def __init__(
        self, session: aiohttp.ClientSession, gitlab_url: str, token: str, *, name: str = "runner-vm"
    ) -> None:
        self._session = session
        self.url = gitlab_url.rstrip("/")
        self.token = token
        self.name = name  # gitlab-runner sends its name in every request's `info`
        self.runner_id: int | None = None

    async def verify(self, name: str | None = None) -> int:
        """`POST /runners/verify`: the HTTP status (200 for a live token, 403 otherwise)."""
        self.name = name or self.name
        async with self._session.post(f"{self.url}/api/v4/runners/verify", json=self._body()) as response:
            if response.status == 200:
                self.runner_id = int((await response.json())["id"])
            return response.status

    async def request_job(self) -> tuple[int, TakenJob | None]:
        """The HTTP status and the job (201) or None (204: nothing for this runner now)."""
        async with self._session.post(f"{self.url}/api/v4/jobs/request", json=self._body()) as response:
            if response.status != 201:
                return response.status, None
            payload: dict[str, Any] = await response.json()
        variables = {str(v["key"]): str(v["value"]) for v in payload["variables"]}
        script = [str(line) for step in payload["steps"] for line in step["script"]]
        return 201, TakenJob(int(payload["id"]), str(payload["token"]), variables, script)

    async def wait_for_job(self, *, within_s: float = 5.0, poll_s: float = 0.005) -> TakenJob:
        async def taken() -> TakenJob | None:
            status, job = await self.request_job()
            if job is None and status != 204:
                raise AssertionError(f"jobs/request answered HTTP {status}")
            return job

        return await eventually(taken, within_s=within_s, poll_s=poll_s, what="a job for the runner")

    def _body(self) -> dict[str, Any]:
        return {"token": self.token, "info": {"name": self.name}}

    async def host_lost(self, job: TakenJob | None = None) -> tuple[int, dict[str, Any]]:
        """What the simulated VM says when it goes away: its job (if it knew one) or its token."""
        body: dict[str, Any] = {"token": self.token}
        if job is not None:
            body |= {"job_id": job.id, "job_token": job.token}
        async with self._session.post(f"{self.url}/_sim/runner/host-lost", json=body) as response:
            answer: dict[str, Any] = await response.json()
            return response.status, answer

    async def update_job(self, job: TakenJob, state: str = "running") -> tuple[int, str | None]:
        """`PUT /jobs/:id` with the job token: the HTTP status and the `Job-Status` header."""
        body = {"token": job.token, "state": state}
        async with self._session.put(f"{self.url}/api/v4/jobs/{job.id}", json=body) as response:
            return response.status, response.headers.get("Job-Status")

    async def wait_until_job_ends(
        self, job: TakenJob, *, within_s: float = 5.0, poll_s: float = 0.005
    ) -> str:
        """Heartbeat the job as a runner does until GitLab says it ended; its final status."""

        async def ended() -> str | None:
            status, final = await self.update_job(job)
            if status != 403:
                return None
            assert final is not None, "GitLab names the job's status when it refuses an update"
            return final

        return await eventually(ended, within_s=within_s, poll_s=poll_s, what=f"the end of job {job.id}")
