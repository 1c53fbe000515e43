"""Helpers for code tested against the GitLab simulator.

A webhook receiver that records what arrives, and a runner client that speaks the simulated
runner protocol the way a runner VM does.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
from multidict import CIMultiDict

from simulator.gitlab.simulator import GitLabSimulator
from simulator.testing import HookReceiver as BaseHookReceiver
from simulator.testing import ReceivedHook as BaseReceivedHook
from simulator.testing import poll_until

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


class RunnerClient:
    """What `gitlab-runner run-single` does on a runner VM, over the simulator's runner protocol."""

    def __init__(self, session: aiohttp.ClientSession, gitlab_url: str, token: str) -> None:
        self._session = session
        self.url = gitlab_url.rstrip("/")
        self.token = token
        self.runner_id: int | None = None

    @property
    def _auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    async def connect(self, name: str = "runner-vm") -> tuple[int, dict[str, Any]]:
        async with self._session.post(
            f"{self.url}/_sim/runner/connect", json={"token": self.token, "name": name}
        ) as response:
            body: dict[str, Any] = await response.json()
            if response.status == 200:
                self.runner_id = int(body["runner_id"])
            return response.status, body

    async def request_job(self) -> tuple[int, int | None]:
        """The HTTP status and the job id (200) or None (204: nothing for this runner yet)."""
        async with self._session.post(
            f"{self.url}/_sim/runner/{self.runner_id}/request_job", headers=self._auth
        ) as response:
            if response.status == 200:
                return 200, int((await response.json())["job_id"])
            return response.status, None

    async def wait_for_job(self, *, within_s: float = 5.0, poll_s: float = 0.005) -> int:
        async with asyncio.timeout(within_s):
            while True:
                status, job_id = await self.request_job()
                if job_id is not None:
                    return job_id
                if status != 204:
                    raise AssertionError(f"request_job answered HTTP {status}")
                await asyncio.sleep(poll_s)

    async def status(self) -> dict[str, Any]:
        async with self._session.get(
            f"{self.url}/_sim/runner/{self.runner_id}", headers=self._auth
        ) as response:
            response.raise_for_status()
            body: dict[str, Any] = await response.json()
            return body

    async def wait_for_status(
        self, wanted: str, *, within_s: float = 5.0, poll_s: float = 0.005
    ) -> dict[str, Any]:
        return await poll_until(
            self.status, lambda current: current["status"] == wanted, within_s=within_s, poll_s=poll_s
        )
