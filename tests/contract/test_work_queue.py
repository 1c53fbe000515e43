"""The WorkQueue contract, run against the in-memory queue and Azure Storage queues (Azurite)."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime

import pytest
from azure.storage.queue.aio import QueueClient

from runner_fleet.adapters.storage import AzureWorkQueue, StorageEndpoints
from runner_fleet.ports.queue import MessageLeaseLost, ReceivedMessage
from tests.azurite import Azurite
from tests.contract.conftest import QueueUnderTest, unique_queue_name

# Azure counts visibility in whole seconds; one more second of waiting absorbs its rounding.
HIDE_S = 2
MARGIN_S = 1


async def test_sent_message_is_received_then_deleted(work_queue: QueueUnderTest) -> None:
    """A sent message is received once with its body and a first dequeue count, and delete removes it."""
    queue, name = work_queue.queue, work_queue.name
    await queue.send(name, '{"job": 1}')

    [message] = await queue.receive(name, max_messages=10, visibility_timeout_s=30)
    assert message.body == '{"job": 1}'
    assert message.dequeue_count == 1
    assert message.pop_receipt
    assert isinstance(message.inserted_at, datetime)

    await queue.delete(name, message)
    assert await queue.depth(name) == 0
    assert await queue.receive(name, max_messages=10, visibility_timeout_s=30) == []


async def test_receive_on_an_empty_queue_returns_nothing(work_queue: QueueUnderTest) -> None:
    """Receiving from an empty (or never used) queue returns an empty list."""
    assert await work_queue.queue.receive(work_queue.name, max_messages=5, visibility_timeout_s=30) == []


async def test_received_message_is_hidden_until_its_visibility_timeout_ends(
    work_queue: QueueUnderTest,
) -> None:
    """A received message stays invisible for the visibility timeout, then is delivered again."""
    queue, name = work_queue.queue, work_queue.name
    await queue.send(name, "hello")
    [first] = await queue.receive(name, max_messages=1, visibility_timeout_s=HIDE_S)

    assert await queue.receive(name, max_messages=1, visibility_timeout_s=HIDE_S) == []
    await work_queue.wait(HIDE_S + MARGIN_S)

    [again] = await queue.receive(name, max_messages=1, visibility_timeout_s=30)
    assert again.id == first.id
    assert again.dequeue_count == 2
    assert again.pop_receipt != first.pop_receipt


async def test_delayed_message_becomes_visible_after_the_delay(work_queue: QueueUnderTest) -> None:
    """A message sent with delay_s is counted at once but delivered only after the delay."""
    queue, name = work_queue.queue, work_queue.name
    await queue.send(name, "later", delay_s=HIDE_S)

    assert await queue.receive(name, max_messages=1, visibility_timeout_s=30) == []
    assert await queue.depth(name) == 1
    await work_queue.wait(HIDE_S + MARGIN_S)

    [message] = await queue.receive(name, max_messages=1, visibility_timeout_s=30)
    assert message.body == "later"
    assert message.dequeue_count == 1


async def test_dequeue_count_increments_with_every_receive(work_queue: QueueUnderTest) -> None:
    """Each receive of the same message raises its dequeue count by one; retry_later does not."""
    queue, name = work_queue.queue, work_queue.name
    await queue.send(name, "counted")

    counts = []
    for _ in range(3):
        [message] = await queue.receive(name, max_messages=1, visibility_timeout_s=30)
        counts.append(message.dequeue_count)
        released = await queue.retry_later(name, message, delay_s=0)
        assert released.dequeue_count == message.dequeue_count
    assert counts == [1, 2, 3]


async def test_retry_later_hides_the_message_under_a_new_receipt(work_queue: QueueUnderTest) -> None:
    """retry_later hides the message for the delay under a new receipt; the old receipt stops working."""
    queue, name = work_queue.queue, work_queue.name
    await queue.send(name, "wait for capacity")
    [received] = await queue.receive(name, max_messages=1, visibility_timeout_s=30)

    postponed = await queue.retry_later(name, received, delay_s=HIDE_S)
    assert postponed.id == received.id
    assert postponed.body == received.body
    assert postponed.pop_receipt != received.pop_receipt
    assert await queue.receive(name, max_messages=1, visibility_timeout_s=30) == []

    await queue.delete(name, received)
    assert await queue.depth(name) == 1

    await work_queue.wait(HIDE_S + MARGIN_S)
    [again] = await queue.receive(name, max_messages=1, visibility_timeout_s=30)
    assert again.id == received.id
    await queue.delete(name, again)
    assert await queue.depth(name) == 0


async def test_retry_later_on_a_held_message_renews_its_lease_past_the_first_timeout(
    work_queue: QueueUnderTest,
) -> None:
    """Hiding a received message again before its lease ends keeps it hidden past that end (the
    Functions host's lease renewal); the renewed receipt then deletes it and the first one cannot."""
    queue, name = work_queue.queue, work_queue.name
    await queue.send(name, "long job")
    [received] = await queue.receive(name, max_messages=1, visibility_timeout_s=HIDE_S)

    await work_queue.wait(HIDE_S / 2)
    renewed = await queue.retry_later(name, received, delay_s=HIDE_S + 2 * MARGIN_S)
    await work_queue.wait(HIDE_S / 2 + MARGIN_S)  # past the first lease, inside the renewed one
    assert await queue.receive(name, max_messages=1, visibility_timeout_s=30) == []

    await queue.delete(name, received)
    assert await queue.depth(name) == 1
    await queue.delete(name, renewed)
    assert await queue.depth(name) == 0


async def test_stale_receipt_does_not_delete_a_message_someone_else_received(
    work_queue: QueueUnderTest,
) -> None:
    """After the lease expires and another consumer receives the message, the old receipt changes nothing."""
    queue, name = work_queue.queue, work_queue.name
    await queue.send(name, "contended")
    [mine] = await queue.receive(name, max_messages=1, visibility_timeout_s=1)
    await work_queue.wait(1 + MARGIN_S)
    [theirs] = await queue.receive(name, max_messages=1, visibility_timeout_s=30)
    assert theirs.id == mine.id

    await queue.delete(name, mine)
    assert await queue.depth(name) == 1
    with pytest.raises(LookupError):
        await queue.retry_later(name, mine, delay_s=0)
    assert await queue.receive(name, max_messages=1, visibility_timeout_s=30) == []

    await queue.delete(name, theirs)
    assert await queue.depth(name) == 0


@pytest.fixture
async def deleted(work_queue: QueueUnderTest) -> ReceivedMessage:
    """A message received and then deleted: its receipt outlives it."""
    queue, name = work_queue.queue, work_queue.name
    await queue.send(name, "gone")
    [message] = await queue.receive(name, max_messages=1, visibility_timeout_s=30)
    await queue.delete(name, message)
    return message


async def test_deleting_a_message_twice_is_not_an_error(
    work_queue: QueueUnderTest, deleted: ReceivedMessage
) -> None:
    """Deleting a message that is already gone succeeds silently."""
    await work_queue.queue.delete(work_queue.name, deleted)
    assert await work_queue.queue.depth(work_queue.name) == 0


async def test_retry_later_of_a_deleted_message_reports_the_lost_lease(
    work_queue: QueueUnderTest, deleted: ReceivedMessage
) -> None:
    """retry_later on a message that was deleted raises MessageLeaseLost, a LookupError."""
    with pytest.raises(MessageLeaseLost):
        await work_queue.queue.retry_later(work_queue.name, deleted, delay_s=1)


async def test_depth_counts_visible_and_hidden_messages(work_queue: QueueUnderTest) -> None:
    """depth counts every message in the queue, including received and delayed ones."""
    queue, name = work_queue.queue, work_queue.name
    assert await queue.depth(name) == 0
    for body in ("a", "b"):
        await queue.send(name, body)
    await queue.send(name, "c", delay_s=60)
    await queue.receive(name, max_messages=1, visibility_timeout_s=30)
    assert await queue.depth(name) == 3


async def test_receive_returns_at_most_max_messages(work_queue: QueueUnderTest) -> None:
    """receive hands out no more than max_messages, and later calls get the rest."""
    queue, name = work_queue.queue, work_queue.name
    for index in range(5):
        await queue.send(name, f"m{index}")

    first = await queue.receive(name, max_messages=2, visibility_timeout_s=30)
    rest = await queue.receive(name, max_messages=10, visibility_timeout_s=30)
    assert len(first) == 2
    assert len(rest) == 3
    assert sorted(message.body for message in first + rest) == [f"m{index}" for index in range(5)]


async def test_unicode_body_round_trips(work_queue: QueueUnderTest) -> None:
    """Bodies with non-ASCII text, newlines and XML-special characters arrive unchanged."""
    queue, name = work_queue.queue, work_queue.name
    body = '{"repo": "café/🚀", "note": "日本語 <&> \\n"}\nline two\t'
    await queue.send(name, body)
    [message] = await queue.receive(name, max_messages=1, visibility_timeout_s=30)
    assert message.body == body


async def test_oversized_message_is_rejected_before_sending(work_queue: QueueUnderTest) -> None:
    """A body over 64 KiB once base64-encoded raises ValueError and enqueues nothing."""
    queue, name = work_queue.queue, work_queue.name
    with pytest.raises(ValueError, match="too large"):
        await queue.send(name, "x" * 49_153)
    assert await queue.depth(name) == 0


async def test_invalid_queue_name_is_rejected(work_queue: QueueUnderTest) -> None:
    """Queue names Azure would refuse raise ValueError on every backend."""
    with pytest.raises(ValueError, match="invalid queue name"):
        await work_queue.queue.send("Bad_Name", "x")


async def test_delay_beyond_seven_days_is_rejected(work_queue: QueueUnderTest) -> None:
    """A delay longer than Azure's seven-day maximum raises ValueError."""
    with pytest.raises(ValueError, match="delay_s"):
        await work_queue.queue.send(work_queue.name, "x", delay_s=7 * 24 * 3600 + 1)


# The wire format matters only for Azure: the Functions host's queue trigger reads these messages.


@dataclass
class OnTheWire:
    """The adapter on Azurite, a fresh queue name, and a plain client of that queue."""

    queue: AzureWorkQueue
    name: str
    raw: QueueClient  # no encode or decode policy: the text exactly as it sits in the queue


@pytest.fixture
async def wire(azurite: Azurite, storage_endpoints: StorageEndpoints) -> AsyncIterator[OnTheWire]:
    name = unique_queue_name()
    wire = OnTheWire(
        AzureWorkQueue.from_endpoints(storage_endpoints),
        name,
        QueueClient.from_connection_string(azurite.connection_string, name),
    )
    try:
        yield wire
    finally:
        await wire.raw.close()
        await wire.queue.close()


async def test_azure_messages_travel_base64_encoded_and_never_expire(wire: OnTheWire) -> None:
    """On the wire a body is base64 of its UTF-8 with no expiry, as the queue trigger reads and writes it."""
    queue, name, raw = wire.queue, wire.name, wire.raw
    body = '{"job": "ünïcode ✓"}'
    await queue.send(name, body)
    [message] = [item async for item in raw.receive_messages(max_messages=1)]
    assert message.content == base64.b64encode(body.encode()).decode()
    assert message.expires_on is not None
    assert message.expires_on.year == 9999

    await raw.send_message(base64.b64encode("from the host ✓".encode()).decode())
    [received] = await queue.receive(name, max_messages=1, visibility_timeout_s=30)
    assert received.body == "from the host ✓"


async def test_azure_queue_delivers_a_foreign_unencoded_message_as_raw_text(wire: OnTheWire) -> None:
    """A message someone else enqueued without base64 is delivered as its raw text instead of failing."""
    await wire.raw.create_queue()
    await wire.raw.send_message("not base64!")
    [message] = await wire.queue.receive(wire.name, max_messages=1, visibility_timeout_s=30)
    assert message.body == "not base64!"


async def test_azure_queue_deleted_behind_the_adapters_back_is_created_again(wire: OnTheWire) -> None:
    """If a queue the adapter already created is deleted, the next call recreates it and succeeds."""
    await wire.queue.send(wire.name, "before")
    await wire.raw.delete_queue()
    await wire.queue.send(wire.name, "after")
    [message] = await wire.queue.receive(wire.name, max_messages=5, visibility_timeout_s=30)
    assert message.body == "after"
