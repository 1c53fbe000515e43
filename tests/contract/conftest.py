"""Backends under test: each contract test runs in memory and on Azure Storage (Azurite)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import pytest

from runner_fleet.adapters.memory import MemoryStateTable, MemoryWorkQueue
from runner_fleet.adapters.storage import AzureStateTable, AzureWorkQueue, StorageEndpoints
from runner_fleet.ports.queue import WorkQueue
from runner_fleet.state.table import StateTable
from tests.azurite import Azurite, azurite_session

BACKENDS = ["memory", "azure"]


@pytest.fixture(scope="session")
def azurite() -> Iterator[Azurite]:
    yield from azurite_session()


@pytest.fixture(scope="session")
def storage_endpoints(azurite: Azurite) -> StorageEndpoints:
    return StorageEndpoints.from_settings({"AzureWebJobsStorage": azurite.connection_string})


class ManualClock:
    """Monotonic seconds that move only when a test says so."""

    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class QueueUnderTest:
    backend: str
    queue: WorkQueue
    name: str
    clock: ManualClock | None = None

    async def wait(self, seconds: float) -> None:
        """Let `seconds` pass: instantly in memory, for real against the emulator."""
        if self.clock is not None:
            self.clock.now += seconds
        else:
            await asyncio.sleep(seconds)


def unique_queue_name() -> str:
    return f"q-{uuid.uuid4().hex[:20]}"


def unique_table_name() -> str:
    return f"t{uuid.uuid4().hex[:20]}"


@pytest.fixture(params=BACKENDS)
async def work_queue(request: pytest.FixtureRequest) -> AsyncIterator[QueueUnderTest]:
    if request.param == "memory":
        clock = ManualClock()
        under_test = QueueUnderTest("memory", MemoryWorkQueue(clock=clock), unique_queue_name(), clock)
    else:
        endpoints: StorageEndpoints = request.getfixturevalue("storage_endpoints")
        under_test = QueueUnderTest("azure", AzureWorkQueue.from_endpoints(endpoints), unique_queue_name())
    try:
        yield under_test
    finally:
        await under_test.queue.close()


@pytest.fixture(params=BACKENDS)
async def state_table(request: pytest.FixtureRequest) -> AsyncIterator[StateTable]:
    table: StateTable
    if request.param == "memory":
        table = MemoryStateTable()
    else:
        endpoints: StorageEndpoints = request.getfixturevalue("storage_endpoints")
        table = AzureStateTable.from_endpoints(endpoints, unique_table_name())
    try:
        yield table
    finally:
        await table.close()
