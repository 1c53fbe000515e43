"""Fixtures for the ARM simulator tests: a fast simulator on its own loop, and the real async
azure-mgmt clients pointed at it with a static bearer token; and for every simulator's tests, an
HTTP session and a caller of the `/_sim/...` control routes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import replace
from typing import Any, Protocol, TypeVar

import aiohttp
import pytest
from azure.mgmt.compute.aio import ComputeManagementClient
from azure.mgmt.network.aio import NetworkManagementClient

from runner_fleet.adapters.azure.credentials import StaticTokenCredential
from simulator.arm import DEFAULT_SUBSCRIPTION_ID, ArmConfig, ArmSimulator, Timing, VmSize, default_sizes
from simulator.clock import SimClock
from simulator.server import BackgroundLoop
from simulator.testing import eventually as poll_eventually
from simulator.tls import LoopbackTls, make_loopback_tls

T = TypeVar("T")
C = TypeVar("C", ComputeManagementClient, NetworkManagementClient)

ARM_SCOPES = ["https://management.azure.com/.default"]
TIME_SCALE = 20.0
RESTRICTED_SIZE = VmSize(
    "Standard_NC4as_T4_v3",
    "standardNCASv3_T4Family",
    4,
    28,
    180 * 1024,
    0,
    True,
    restricted_locations=("westeurope",),
)


class ComputeFactory(Protocol):
    def __call__(
        self, sim: ArmSimulator, *, principal: str = ..., **kwargs: Any
    ) -> ComputeManagementClient: ...


class NetworkFactory(Protocol):
    def __call__(
        self, sim: ArmSimulator, *, principal: str = ..., **kwargs: Any
    ) -> NetworkManagementClient: ...


class Eventually(Protocol):
    def __call__(
        self, check: Callable[[], T | None], *, within: float = ..., interval: float = ...
    ) -> Awaitable[T]: ...


def fast_config(**overrides: Any) -> ArmConfig:
    """Short durations: at TIME_SCALE 20 a create takes 0.3 s of real time and a delete 0.1 s."""
    config = ArmConfig(
        sizes=(*default_sizes(), RESTRICTED_SIZE),
        timing=Timing(provisioning_s=6.0, boot_s=1.0, delete_s=2.0, poll_interval_s=0.5),
        seed=7,
    )
    return replace(config, **overrides)


@pytest.fixture(scope="session")
def loopback_tls(tmp_path_factory: pytest.TempPathFactory) -> LoopbackTls:
    return make_loopback_tls(tmp_path_factory.mktemp("arm-tls"))


@pytest.fixture
def make_sim(loopback_tls: LoopbackTls) -> Iterator[Callable[..., ArmSimulator]]:
    """Start simulators (each on its own background loop) from a config or `fast_config` overrides."""
    started: list[tuple[BackgroundLoop, ArmSimulator]] = []

    def make(config: ArmConfig | None = None, **overrides: Any) -> ArmSimulator:
        loop = BackgroundLoop("arm-sim-test")
        simulator = ArmSimulator(
            loop, clock=SimClock(TIME_SCALE), config=config or fast_config(**overrides), tls=loopback_tls
        )
        simulator.start()
        started.append((loop, simulator))
        return simulator

    yield make
    for loop, simulator in started:
        simulator.stop()
        loop.close()


@pytest.fixture
def sim(make_sim: Callable[..., ArmSimulator]) -> ArmSimulator:
    return make_sim()


def _clients_of(kind: Callable[..., C], **defaults: Any) -> tuple[Callable[..., C], list[C]]:
    """A factory of real async azure-mgmt clients of `kind` aimed at a simulator, and what it made."""
    made: list[C] = []

    def make(sim: ArmSimulator, *, principal: str = "principal-a", **kwargs: Any) -> C:
        client = kind(
            StaticTokenCredential(principal),
            DEFAULT_SUBSCRIPTION_ID,
            base_url=sim.base_url,
            credential_scopes=ARM_SCOPES,
            connection_verify=str(sim.ca_bundle),
            **(defaults | kwargs),
        )
        made.append(client)
        return client

    return make, made


@pytest.fixture
async def compute_for() -> AsyncIterator[ComputeFactory]:
    make, clients = _clients_of(ComputeManagementClient, polling_interval=1)
    yield make
    for client in clients:
        await client.close()


@pytest.fixture
async def network_for() -> AsyncIterator[NetworkFactory]:
    make, clients = _clients_of(NetworkManagementClient)
    yield make
    for client in clients:
        await client.close()


@pytest.fixture
def compute(sim: ArmSimulator, compute_for: ComputeFactory) -> ComputeManagementClient:
    return compute_for(sim)


@pytest.fixture
def network(sim: ArmSimulator, network_for: NetworkFactory) -> NetworkManagementClient:
    return network_for(sim)


async def _eventually(check: Callable[[], T | None], *, within: float = 5.0, interval: float = 0.02) -> T:
    # The check may block on the simulator's loop: it runs in a thread.
    return await poll_eventually(lambda: asyncio.to_thread(check), within_s=within, poll_s=interval)


@pytest.fixture
def eventually() -> Eventually:
    """Poll a check until it returns something truthy, failing after `within` seconds."""
    return _eventually


@pytest.fixture
async def http_session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
def call_json(http_session: aiohttp.ClientSession) -> Callable[..., Awaitable[tuple[int, Any]]]:
    """`await call_json(method, url, body=None)`: the status and JSON answer of one request."""

    async def call(method: str, url: str, body: dict[str, Any] | None = None) -> tuple[int, Any]:
        async with http_session.request(method, url, json=body) as response:
            return response.status, await response.json()

    return call
