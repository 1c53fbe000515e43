"""Fixtures for the GitHub simulator tests, loaded by the test modules through `pytest_plugins`."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from simulator.clock import SimClock
from simulator.github import GitHubSimConfig, GitHubSimulator
from simulator.github.auth import generate_private_key_pem
from simulator.github.testing import HookReceiver, SimulatorFactory
from simulator.server import BackgroundLoop

TIME_SCALE = 100.0


@pytest.fixture(scope="session")
def app_private_key_pem() -> str:
    """One App key for the whole session: RSA key generation is the slowest part of start-up."""
    return generate_private_key_pem()


@pytest.fixture
def make_github_sim(app_private_key_pem: str) -> Iterator[SimulatorFactory]:
    """Start simulators with config overrides (100x time); all are stopped after the test."""
    loops: list[BackgroundLoop] = []
    sims: list[GitHubSimulator] = []

    def make(*, time_scale: float = TIME_SCALE, **overrides: Any) -> GitHubSimulator:
        base = GitHubSimConfig(
            app_private_key_pem=app_private_key_pem, webhook_latency_s=0.0, job_duration_s=1.0
        )
        loop = BackgroundLoop("github-sim-test")
        loops.append(loop)
        sim = GitHubSimulator(loop, clock=SimClock(time_scale), config=dataclasses.replace(base, **overrides))
        sims.append(sim)
        sim.start()
        return sim

    yield make
    for sim in sims:
        sim.stop()
    for loop in loops:
        loop.close()


@pytest.fixture
def github_sim(make_github_sim: SimulatorFactory) -> GitHubSimulator:
    return make_github_sim()


@pytest.fixture
async def hook_receiver() -> AsyncIterator[HookReceiver]:
    async with HookReceiver() as receiver:
        yield receiver
