"""Fixtures for the GitLab simulator tests, loaded by the test modules through `pytest_plugins`.

Names carry a `gitlab` prefix so they never shadow another simulator's fixtures.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import gitlab
import pytest

from simulator.clock import SimClock
from simulator.gitlab import DEFAULT_TOKEN, ApiToken, GitLabSimConfig, GitLabSimulator
from simulator.gitlab.testing import HookReceiver, SimulatorFactory
from simulator.server import BackgroundLoop

TIME_SCALE = 100.0
ClientFactory = Callable[..., gitlab.Gitlab]
# What runner-fleet's token has: enough to create, read and delete runners and read jobs.
SERVICE_TOKEN = ApiToken(
    "glpat-RunnerFleetService000000",
    ("create_runner", "manage_runner", "read_api"),
    username="root",
    name="runner-fleet",
)
READ_ONLY_TOKEN = ApiToken("glpat-ReadOnlyToken0000000000", ("read_api",), username="deployer", name="ro")
NON_ADMIN_TOKEN = ApiToken(
    "glpat-NonAdminToken00000000",
    ("create_runner", "manage_runner", "read_api"),
    username="deployer",
    name="non-admin",
)


def fast_config(**overrides: Any) -> GitLabSimConfig:
    """No webhook latency and one-second jobs (10 ms at 100x); extra tokens for scope tests."""
    base = GitLabSimConfig(webhook_latency_s=0.0, job_duration_s=1.0, seed=11)
    base = dataclasses.replace(base, tokens=(*base.tokens, SERVICE_TOKEN, READ_ONLY_TOKEN, NON_ADMIN_TOKEN))
    return dataclasses.replace(base, **overrides)


@pytest.fixture
def make_gitlab_sim() -> Iterator[SimulatorFactory]:
    """Start simulators (each on its own background loop) with `fast_config` overrides."""
    started: list[tuple[BackgroundLoop, GitLabSimulator]] = []

    def make(*, time_scale: float = TIME_SCALE, **overrides: Any) -> GitLabSimulator:
        loop = BackgroundLoop("gitlab-sim-test")
        sim = GitLabSimulator(loop, clock=SimClock(time_scale), config=fast_config(**overrides))
        started.append((loop, sim))
        sim.start()
        return sim

    yield make
    for loop, sim in started:
        sim.stop()
        loop.close()


@pytest.fixture
def gitlab_sim(make_gitlab_sim: SimulatorFactory) -> GitLabSimulator:
    return make_gitlab_sim()


@pytest.fixture
def gitlab_tokens() -> dict[str, str]:
    """Tokens by role: admin (the simulator's default), service, read_only, non_admin."""
    return {
        "admin": DEFAULT_TOKEN,
        "service": SERVICE_TOKEN.token,
        "read_only": READ_ONLY_TOKEN.token,
        "non_admin": NON_ADMIN_TOKEN.token,
    }


@pytest.fixture
def gitlab_client_for() -> Iterator[ClientFactory]:
    """python-gitlab clients for a simulator and a token (the default admin token if none)."""
    clients: list[gitlab.Gitlab] = []

    def make(sim: GitLabSimulator, token: str | None = None) -> gitlab.Gitlab:
        client = gitlab.Gitlab(
            url=sim.base_url, private_token=token or sim.token, retry_transient_errors=False
        )
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.session.close()


@pytest.fixture
def gl(gitlab_sim: GitLabSimulator, gitlab_client_for: ClientFactory) -> gitlab.Gitlab:
    """python-gitlab authenticated with the service's token (create/manage runners, read API)."""
    client = gitlab_client_for(gitlab_sim, SERVICE_TOKEN.token)
    client.auth()
    return client


@pytest.fixture
async def gitlab_hook_receiver() -> AsyncIterator[HookReceiver]:
    async with HookReceiver() as receiver:
        yield receiver
