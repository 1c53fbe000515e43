"""What only the in-memory backends promise: injectable clocks, thread safety and snapshots for tests."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest

from runner_fleet.adapters.memory import MemoryStateTable, MemoryWorkQueue
from runner_fleet.ports.queue import PROVISION_QUEUE, RELEASE_QUEUE, poison_queue
from runner_fleet.ports.queue_rules import check_queue_name
from runner_fleet.state.errors import AlreadyExists, PreconditionFailed
from tests.contract.conftest import ManualClock

THREADS = 8


@pytest.fixture
def frequent_thread_switches() -> Iterator[None]:
    """Preempt threads every microsecond so that an unguarded read-then-write is caught in the act."""
    previous = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        yield
    finally:
        sys.setswitchinterval(previous)


def test_the_ports_queue_names_and_their_poison_queues_are_valid() -> None:
    """provision, release and their -poison queues pass the Azure queue-name rules."""
    for queue in (PROVISION_QUEUE, RELEASE_QUEUE):
        check_queue_name(queue)
        check_queue_name(poison_queue(queue))


async def test_visibility_follows_the_injected_clock_to_the_instant() -> None:
    """A received message reappears exactly when the injected clock passes its visibility timeout."""
    clock = ManualClock()
    queue = MemoryWorkQueue(clock=clock)
    await queue.send("jobs", "x")
    await queue.receive("jobs", max_messages=1, visibility_timeout_s=10)

    clock.now += 9.999
    assert await queue.receive("jobs", max_messages=1, visibility_timeout_s=10) == []
    clock.now += 0.001
    assert len(await queue.receive("jobs", max_messages=1, visibility_timeout_s=10)) == 1


async def test_timestamps_come_from_the_injected_wall_clock() -> None:
    """inserted_at and updated_at are taken from the injected `now`."""
    moment = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
    queue = MemoryWorkQueue(now=lambda: moment)
    table = MemoryStateTable(now=lambda: moment + timedelta(seconds=1))

    await queue.send("jobs", "x")
    [message] = await queue.receive("jobs", max_messages=1, visibility_timeout_s=10)
    record = await table.insert("p", "k", {"v": 1})

    assert message.inserted_at == moment
    assert record.updated_at == moment + timedelta(seconds=1)


async def test_snapshots_show_contents_without_exposing_internals() -> None:
    """bodies() and records() list what is stored; changing a returned record's data changes nothing."""
    queue = MemoryWorkQueue()
    table = MemoryStateTable()
    await queue.send("jobs", "first")
    await queue.send("jobs", "second", delay_s=60)
    await table.insert("b", "k", {"v": 1})
    record = await table.insert("a", "k", {"v": 2})
    record.data["v"] = 99

    assert queue.bodies("jobs") == ["first", "second"]
    assert queue.bodies("other") == []
    assert [(row.partition, row.data) for row in table.records()] == [("a", {"v": 2}), ("b", {"v": 1})]


async def test_an_etag_is_never_reused_after_delete_and_recreate() -> None:
    """A row deleted and inserted again gets a new ETag, so a record read before the delete is stale."""
    table = MemoryStateTable()
    old = await table.insert("p", "k", {"v": 1})
    await table.delete("p", "k")
    await table.insert("p", "k", {"v": 1})
    with pytest.raises(PreconditionFailed):
        await table.replace(old, {"v": 2})


@pytest.mark.usefixtures("frequent_thread_switches")
def test_queue_delivers_each_message_once_to_consumers_on_many_threads() -> None:
    """Consumers on several threads, each with its own event loop, never receive the same message twice."""
    queue = MemoryWorkQueue()
    total = 400

    async def fill() -> None:
        for index in range(total):
            await queue.send("jobs", str(index))

    async def drain() -> list[str]:
        seen: list[str] = []
        while batch := await queue.receive("jobs", max_messages=3, visibility_timeout_s=300):
            for message in batch:
                seen.append(message.body)
                await queue.delete("jobs", message)
            await asyncio.sleep(0)
        return seen

    asyncio.run(fill())
    with ThreadPoolExecutor(THREADS) as pool:
        results = list(pool.map(lambda _: asyncio.run(drain()), range(THREADS)))

    delivered = [body for result in results for body in result]
    assert sorted(delivered, key=int) == [str(index) for index in range(total)]
    assert asyncio.run(queue.depth("jobs")) == 0


@pytest.mark.usefixtures("frequent_thread_switches")
def test_table_optimistic_updates_from_many_threads_lose_no_increment() -> None:
    """Read-modify-replace loops on several threads and tasks add up exactly, thanks to ETag checks."""
    table = MemoryStateTable()
    per_worker = 50

    async def increment_many() -> None:
        for _ in range(per_worker):
            while True:
                record = await table.get("counters", "c")
                try:
                    if record is None:
                        await table.insert("counters", "c", {"n": 1})
                    else:
                        await table.replace(record, {"n": int(record.data["n"] or 0) + 1})
                    break
                except (AlreadyExists, PreconditionFailed):
                    await asyncio.sleep(0)

    async def two_tasks() -> None:
        await asyncio.gather(increment_many(), increment_many())

    with ThreadPoolExecutor(THREADS) as pool:
        list(pool.map(lambda _: asyncio.run(two_tasks()), range(THREADS)))

    final = asyncio.run(table.get("counters", "c"))
    assert final is not None
    assert final.data == {"n": THREADS * 2 * per_worker}
