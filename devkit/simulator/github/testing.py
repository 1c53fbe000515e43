"""Helpers for code tested against the GitHub simulator.

A webhook receiver that records what arrives, a runner guest that speaks the runner protocol
as a simulated VM does, and PyGithub clients set up for loopback (no client-side throttling).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
from github import Auth, Github, GithubIntegration
from multidict import CIMultiDict

from simulator.github.jitconfig import decode_jit_config
from simulator.github.simulator import GitHubSimulator
from simulator.testing import HookReceiver as BaseHookReceiver
from simulator.testing import ReceivedHook as BaseReceivedHook
from simulator.testing import eventually

SimulatorFactory = Callable[..., GitHubSimulator]


@dataclass(frozen=True)
class ReceivedHook(BaseReceivedHook):
    @property
    def event(self) -> str:
        return self.headers["X-GitHub-Event"]

    @property
    def guid(self) -> str:
        return self.headers["X-GitHub-Delivery"]

    @property
    def action(self) -> str | None:
        action: str | None = self.payload.get("action")
        return action

    def signature_valid(self, secret: str) -> bool:
        expected = "sha256=" + hmac.new(secret.encode(), self.body, hashlib.sha256).hexdigest()
        return hmac.compare_digest(expected, self.headers.get("X-Hub-Signature-256", ""))


class HookReceiver(BaseHookReceiver[ReceivedHook]):
    """Records the App's webhooks (see `simulator.testing.HookReceiver`)."""

    def _parse(self, headers: CIMultiDict[str], body: bytes) -> ReceivedHook:
        return ReceivedHook(headers, body)

    def for_job(self, job_id: int) -> list[ReceivedHook]:
        return [
            hook
            for hook in self.received
            if hook.event == "workflow_job" and hook.payload["workflow_job"]["id"] == job_id
        ]

    async def wait_for_actions(self, job_id: int, count: int, *, within_s: float = 5.0) -> list[str | None]:
        """The actions of the first `count` workflow_job deliveries about `job_id`, in arrival order."""
        await self.wait_for(lambda _: len(self.for_job(job_id)) >= count, within_s=within_s)
        return [hook.action for hook in self.for_job(job_id)]


class RunnerGuest:
    """What a runner VM does with its JIT config: connect once, then poll until it exits."""

    def __init__(self, session: aiohttp.ClientSession, encoded_jit_config: str) -> None:
        self._session = session
        self.encoded = encoded_jit_config
        self.config = decode_jit_config(encoded_jit_config)

    async def connect(self) -> tuple[int, dict[str, Any]]:
        async with self._session.post(
            f"{self.config.server_url}/_sim/runner/connect", json={"jitconfig": self.encoded}
        ) as response:
            body: dict[str, Any] = await response.json()
            return response.status, body

    async def status(self) -> dict[str, Any]:
        return await self._as_runner("GET", "")

    async def host_lost(self) -> dict[str, Any]:
        """What the simulated VM says when it goes away with the runner still running."""
        return await self._as_runner("POST", "/host-lost")

    async def _as_runner(self, method: str, suffix: str) -> dict[str, Any]:
        async with self._session.request(
            method,
            f"{self.config.server_url}/_sim/runner/{self.config.agent_id}{suffix}",
            headers={"Authorization": f"Bearer {self.config.token}"},
        ) as response:
            response.raise_for_status()
            body: dict[str, Any] = await response.json()
            return body

    async def wait_for_status(
        self, wanted: str, *, within_s: float = 5.0, poll_s: float = 0.0025
    ) -> dict[str, Any]:
        async def reached() -> dict[str, Any] | None:
            current = await self.status()
            return current if current["status"] == wanted else None

        return await eventually(reached, within_s=within_s, poll_s=poll_s, what=f"runner status {wanted}")


def _client(sim: GitHubSimulator, token: str, **kwargs: Any) -> Github:
    """PyGithub with `token`, without client-side throttling or retries."""
    return Github(
        base_url=sim.base_url,
        auth=Auth.Token(token),
        seconds_between_requests=None,
        seconds_between_writes=None,
        retry=None,
        **kwargs,
    )


def static_client(sim: GitHubSimulator, **kwargs: Any) -> Github:
    """PyGithub with the simulator's static token."""
    return _client(sim, sim.config.static_token, **kwargs)


def app_integration(sim: GitHubSimulator, *, private_key_pem: str | None = None) -> GithubIntegration:
    """PyGithub authenticated as the App (signing JWTs with its key, or with `private_key_pem`)."""
    return GithubIntegration(
        base_url=sim.base_url,
        auth=Auth.AppAuth(sim.app_id, private_key_pem or sim.app_private_key_pem),
        seconds_between_requests=None,
        seconds_between_writes=None,
    )


def installation_client(sim: GitHubSimulator, login: str) -> Github:
    """PyGithub with a fresh installation token of the App's installation on `login`."""
    integration = app_integration(sim)
    account = next(a for a in sim.config.accounts if a.login == login)
    installation = (
        integration.get_org_installation(login)
        if account.type == "Organization"
        else integration.get_user_installation(login)
    )
    return _client(sim, integration.get_access_token(installation.id).token)


def org_jit_config(
    sim: GitHubSimulator, name: str, labels: list[str], *, org: str = "acme", group: int = 1
) -> str:
    """Register an organisation JIT runner in `group` (the Default group 1 unless said) and return its
    encoded config."""
    runner_org = static_client(sim).get_organization(org)
    return runner_org.create_self_hosted_runner_jitconfig(name, group, labels).encoded_jit_config
