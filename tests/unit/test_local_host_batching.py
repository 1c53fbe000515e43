"""The local host's queue trigger follows the Storage queues extension: batches, threshold, renewal,
back-off, poison handling and logged bookkeeping failures."""

from __future__ import annotations

import asyncio
import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from runner_fleet import logs
from runner_fleet.adapters.memory.queue import MemoryWorkQueue
from runner_fleet.host.hostjson import processor_count, read_queue_settings
from runner_fleet.host.index import AppIndex, QueueFunction
from runner_fleet.host.local import LocalHost, PollingBackoff, poison_queue_of
from runner_fleet.ports.queue import ReceivedMessage
from simulator.testing import eventually
from tests.unit.local_host_world import WORK, one_function, running, settings


@dataclass(frozen=True)
class Fetch:
    in_flight: int  # messages received and not yet settled when the host asked
    max_messages: int
    got: int


@dataclass
class SpyQueue:
    """The in-memory queue, recording what the host asks of it for one queue."""

    watched: str = WORK
    inner: MemoryWorkQueue = field(default_factory=MemoryWorkQueue)
    fetches: list[Fetch] = field(default_factory=list)
    renewals: list[tuple[str, float]] = field(default_factory=list)
    deletes: list[str] = field(default_factory=list)
    received: int = 0
    settled: int = 0
    fail_deletes: bool = False

    async def send(self, queue: str, body: str, *, delay_s: float = 0.0) -> None:
        await self.inner.send(queue, body, delay_s=delay_s)

    async def receive(
        self, queue: str, *, max_messages: int, visibility_timeout_s: float
    ) -> list[ReceivedMessage]:
        in_flight = self.received - self.settled
        got = await self.inner.receive(
            queue, max_messages=max_messages, visibility_timeout_s=visibility_timeout_s
        )
        if queue == self.watched:
            self.fetches.append(Fetch(in_flight, max_messages, len(got)))
            self.received += len(got)
        return got

    async def delete(self, queue: str, message: ReceivedMessage) -> None:
        if self.fail_deletes:
            raise RuntimeError("the storage account is unreachable")
        await self.inner.delete(queue, message)
        if queue == self.watched:
            self.deletes.append(message.id)
            self.settled += 1

    async def retry_later(self, queue: str, message: ReceivedMessage, *, delay_s: float) -> ReceivedMessage:
        updated = await self.inner.retry_later(queue, message, delay_s=delay_s)
        if queue == self.watched:
            self.renewals.append((message.id, delay_s))
        return updated

    async def depth(self, queue: str) -> int:
        return await self.inner.depth(queue)

    async def close(self) -> None:
        await self.inner.close()


@pytest.fixture
def captured() -> io.StringIO:
    stream = io.StringIO()
    logs.configure("json", stream=stream)
    return stream


def events(stream: io.StringIO, name: str) -> list[dict[str, Any]]:
    found = [json.loads(line) for line in stream.getvalue().splitlines() if line.startswith("{")]
    return [event for event in found if event.get("event") == name]


async def test_a_new_batch_is_fetched_only_when_in_flight_drops_to_the_threshold() -> None:
    """With batchSize N and newBatchThreshold T no fetch happens above T in flight; at T, N more come."""
    n, t = 4, 2
    queue = SpyQueue()
    bodies = [f"m{index}" for index in range(12)]
    gates = {body: asyncio.Event() for body in bodies}
    started: list[str] = []

    async def handler(msg: Any) -> None:
        body = msg.get_body().decode()
        started.append(body)
        await gates[body].wait()

    for body in bodies:
        await queue.send(WORK, body)
    async with running(one_function(handler), queue, settings(batch_size=n, new_batch_threshold=t)):
        await eventually(lambda: len(started) == n, what="the first batch running")
        gates[started[0]].set()
        await eventually(lambda: queue.settled == 1, what="one message settled, N - 1 in flight")
        gates[started[1]].set()
        await eventually(lambda: len(started) == 2 * n, what="the second batch running")

        with_messages = [fetch for fetch in queue.fetches if fetch.got]
        assert with_messages == [Fetch(0, n, n), Fetch(t, n, n)]
        assert queue.received - queue.settled == n + t  # the most the real host runs at once

        for gate in gates.values():
            gate.set()
        await eventually(lambda: queue.settled == len(bodies), what="every message handled")
        assert all(fetch.in_flight <= t for fetch in queue.fetches), queue.fetches
        assert all(fetch.max_messages == n for fetch in queue.fetches)
        assert all(fetch.in_flight + fetch.got <= n + t for fetch in queue.fetches)


async def test_a_long_running_message_has_its_lease_renewed_and_stays_with_its_worker() -> None:
    """A function running past its lease keeps the message hidden (renewed at half the lease, for a
    whole lease) and no second worker gets it; the newest receipt then deletes it."""
    lease_s = 1.5
    queue = SpyQueue()
    calls: list[int] = []
    finish = asyncio.Event()

    async def slow(msg: Any) -> None:
        calls.append(msg.dequeue_count)
        await finish.wait()

    loop = asyncio.get_running_loop()
    began = loop.time()  # before the message exists, so before its first lease began
    await queue.send(WORK, "slow")
    # Two hosts on one queue, like two instances: the second would take the message if it showed.
    hosts = [LocalHost(one_function(slow), queue, settings(lease_s=lease_s), port=0) for _ in range(2)]
    for host in hosts:
        await host.start()
    try:
        await eventually(lambda: calls == [1], what="the function running")
        await eventually(lambda: len(queue.renewals) >= 3, within_s=20, what="three renewals")
        assert loop.time() - began >= lease_s  # well past the lease the message was received with

        [first] = [fetch for fetch in queue.fetches if fetch.got]
        assert {delay for _, delay in queue.renewals} == {lease_s}
        assert len({message_id for message_id, _ in queue.renewals}) == 1
        assert calls == [1]
        assert await queue.inner.receive(WORK, max_messages=1, visibility_timeout_s=0) == []

        finish.set()
        await eventually(lambda: queue.deletes, what="the message deleted")
        assert await queue.depth(WORK) == 0  # deleted with the renewed receipt, not the stale one
        assert first.got == 1
    finally:
        finish.set()
        for host in hosts:
            await host.stop()


async def test_a_delete_that_fails_after_success_is_logged(captured: io.StringIO) -> None:
    """A message whose delete fails after its function succeeded is reported, not dropped silently."""
    queue = SpyQueue(fail_deletes=True)
    done: list[str] = []

    async def handler(msg: Any) -> None:
        done.append(msg.id)

    await queue.send(WORK, "handled")
    async with running(one_function(handler), queue):
        failed = await eventually(
            lambda: events(captured, "host.queue_delete_failed"), what="the logged failure"
        )
        assert failed[0]["message_id"] == done[0]
        assert failed[0]["queue"] == WORK
        assert "unreachable" in failed[0]["exception"]


async def test_a_failed_message_is_released_after_visibility_timeout_then_poisoned() -> None:
    """Below maxDequeueCount a failure releases the message after visibilityTimeout; at it, poison."""
    queue = SpyQueue()
    counts: list[int] = []

    async def failing(msg: Any) -> None:
        counts.append(msg.dequeue_count)
        raise RuntimeError("always fails")

    await queue.send(WORK, "doomed")
    async with running(one_function(failing), queue, settings(max_dequeue_count=2, visibility_timeout_s=0.2)):
        await eventually(lambda: queue.inner.bodies("work-poison") == ["doomed"], what="the poisoned message")
        assert counts == [1, 2]
        assert [delay for _, delay in queue.renewals] == [0.2]  # the one release, none at the limit
        assert await queue.depth(WORK) == 0


async def test_a_message_already_over_max_dequeue_count_is_poisoned_without_running() -> None:
    """A message received more than maxDequeueCount times (its runs died) goes to poison unrun."""
    queue = SpyQueue()
    calls: list[str] = []

    async def handler(msg: Any) -> None:
        calls.append(msg.id)

    await queue.send(WORK, "orphaned")
    for _ in range(2):  # two earlier receipts whose runs never finished
        await queue.inner.receive(WORK, max_messages=1, visibility_timeout_s=0)
    async with running(one_function(handler), queue, settings(max_dequeue_count=2)):
        await eventually(
            lambda: queue.inner.bodies("work-poison") == ["orphaned"], what="the poisoned message"
        )
        await eventually(lambda: queue.deletes, what="the original deleted")
        assert calls == []


async def test_a_failure_on_a_poison_queue_leaves_the_message_hidden(captured: io.StringIO) -> None:
    """A queue ending in -poison has no poison queue: a failed message is neither released nor moved."""
    queue = SpyQueue(watched="work-poison")

    async def failing(msg: Any) -> None:
        raise RuntimeError("cannot even log it")

    await queue.send("work-poison", "lost")
    async with running(one_function(failing, "work-poison"), queue):
        [hidden] = await eventually(
            lambda: events(captured, "host.failed_message_left_hidden"), what="the message left hidden"
        )
        assert hidden["queue"] == "work-poison"
        assert queue.renewals == []
        assert queue.inner.bodies("work-poison-poison") == []
        assert queue.inner.bodies("work-poison") == ["lost"]


async def test_moving_a_message_to_poison_wakes_the_poison_queues_poller() -> None:
    """The poison queue's listener polls at once when this host poisons a message, not after back-off."""
    queue = SpyQueue()
    poisoned: list[str] = []

    async def failing(msg: Any) -> None:
        raise RuntimeError("always fails")

    async def on_poison(msg: Any) -> None:
        poisoned.append(msg.get_body().decode())

    index = AppIndex(
        (),
        (
            QueueFunction("f", failing, "msg", WORK, ""),
            QueueFunction("p", on_poison, "msg", "work-poison", ""),
        ),
        (),
    )
    await queue.send(WORK, "doomed")
    # Back-off far longer than the test waits: only the wake-up can deliver the poisoned message.
    async with running(
        index, queue, settings(max_dequeue_count=1, max_polling_interval_s=120.0), min_polling_interval_s=60
    ):
        await eventually(lambda: poisoned == ["doomed"], within_s=10, what="the poison function run")


def test_polling_back_off_follows_the_randomized_exponential_strategy() -> None:
    """100 ms, then 100 ms + 2^(n-1) x 100 ms (x jitter) up to the maximum; reset once messages came."""
    backoff = PollingBackoff(0.1, 2.0, jitter=lambda low, high: 1.0)
    empty = [backoff.next_delay(found_since_last_delay=False) for _ in range(8)]
    assert empty == pytest.approx([0.1, 0.2, 0.3, 0.5, 0.9, 1.7, 2.0, 2.0])
    assert backoff.next_delay(found_since_last_delay=True) == pytest.approx(0.1)
    assert backoff.next_delay(found_since_last_delay=False) == pytest.approx(0.2)

    jittered = PollingBackoff(0.1, 60.0, jitter=lambda low, high: high)
    assert [jittered.next_delay(found_since_last_delay=False) for _ in range(3)] == pytest.approx(
        [0.1, 0.22, 0.34]
    )


def test_only_queues_with_room_for_the_suffix_and_not_poison_already_have_a_poison_queue() -> None:
    """As QueueListenerFactory.CreatePoisonQueueReference decides."""
    assert poison_queue_of("provision") == "provision-poison"
    assert poison_queue_of("provision-poison") is None
    assert poison_queue_of("q" * 56) == "q" * 56 + "-poison"
    assert poison_queue_of("q" * 57) is None


def test_project_host_json_runs_batch_size_plus_threshold_at_once() -> None:
    """This app's host.json: batches of 32, a new one when 16 remain, so up to 48 in flight."""
    settings = read_queue_settings(Path(__file__).resolve().parents[2] / "host.json")
    assert (settings.batch_size, settings.new_batch_threshold) == (32, 16)
    assert settings.lease_s == 600.0


def test_default_new_batch_threshold_is_half_a_batch_per_processor(tmp_path: Path) -> None:
    """Unset, newBatchThreshold is batchSize / 2 x processor count (1 on the Consumption SKU)."""
    path = tmp_path / "host.json"
    path.write_text(json.dumps({"extensions": {"queues": {"batchSize": 9}}}), encoding="utf-8")
    assert read_queue_settings(path, processors=1).new_batch_threshold == 4
    assert read_queue_settings(path, processors=4).new_batch_threshold == 16
    assert processor_count({"WEBSITE_SKU": "Dynamic"}) == 1
    assert processor_count({"WEBSITE_SKU": "FlexConsumption"}) >= 1

    path.write_text("{}", encoding="utf-8")
    defaults = read_queue_settings(path, processors=1)
    assert (defaults.batch_size, defaults.new_batch_threshold, defaults.max_dequeue_count) == (16, 8, 5)
    assert (defaults.visibility_timeout_s, defaults.max_polling_interval_s) == (0.0, 60.0)


@pytest.mark.parametrize(
    ("queues", "message"),
    [
        ({"batchSize": 33}, "batchSize"),
        ({"batchSize": 0}, "batchSize"),
        ({"newBatchThreshold": -1}, "newBatchThreshold"),
        ({"maxDequeueCount": 0}, "maxDequeueCount"),
        ({"maxPollingInterval": "00:00:00.05"}, "maxPollingInterval"),
    ],
)
def test_host_json_values_the_extension_refuses_are_refused(
    tmp_path: Path, queues: dict[str, Any], message: str
) -> None:
    """Out-of-range queue settings fail at start, as the extension's QueuesOptions setters do."""
    path = tmp_path / "host.json"
    path.write_text(json.dumps({"extensions": {"queues": queues}}), encoding="utf-8")
    with pytest.raises(ValueError, match=message):
        read_queue_settings(path, processors=1)
