"""An in-process work queue with Azure Storage queue semantics, for unit tests, the demo and a local host.

It enforces the limits Azure does (queue names, message size, delays of at most seven days) so code
that passes against it does not first fail in Azure (the checks are the port's, `ports/queue_rules.py`,
and the Azure adapter makes them too).

Leases follow Azure: every receive or `retry_later` issues a new pop receipt and only the newest one
may delete or update the message. A stale receipt means someone else now holds the message, so
`delete` with it does nothing (the caller's lease is gone, which the port treats as "already gone"),
and `retry_later` with it raises `MessageLeaseLost`.
"""

from __future__ import annotations

import dataclasses
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime

from runner_fleet.ports.queue import MessageLeaseLost, ReceivedMessage
from runner_fleet.ports.queue_rules import check_delay, check_queue_name, encode_body


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclasses.dataclass
class _Message:
    id: str
    body: str
    inserted_at: datetime
    visible_at: float
    dequeue_count: int = 0
    pop_receipt: str | None = None


class MemoryWorkQueue:
    """`WorkQueue` in memory; safe from several asyncio tasks and several threads at once.

    `clock` drives visibility (monotonic seconds) and `now` stamps `inserted_at`; tests inject both
    to move time forward without sleeping.
    """

    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.monotonic,
        now: Callable[[], datetime] = _utc_now,
    ) -> None:
        self._clock = clock
        self._now = now
        # A plain lock, never held across an await: callers may be on other threads and other loops.
        self._lock = threading.Lock()
        # dicts keep insertion order, which makes delivery roughly first-in first-out like Azure's.
        self._queues: dict[str, dict[str, _Message]] = {}

    async def send(self, queue: str, body: str, *, delay_s: float = 0.0) -> None:
        check_queue_name(queue)
        check_delay(delay_s, "delay_s")
        encode_body(body)
        message = _Message(
            id=str(uuid.uuid4()), body=body, inserted_at=self._now(), visible_at=self._clock() + delay_s
        )
        with self._lock:
            self._queues.setdefault(queue, {})[message.id] = message

    async def receive(
        self, queue: str, *, max_messages: int, visibility_timeout_s: float
    ) -> list[ReceivedMessage]:
        check_queue_name(queue)
        if max_messages < 1:
            raise ValueError(f"max_messages must be at least 1, got {max_messages}")
        check_delay(visibility_timeout_s, "visibility_timeout_s")
        received: list[ReceivedMessage] = []
        with self._lock:
            now = self._clock()
            for message in self._queues.get(queue, {}).values():
                if len(received) == max_messages:
                    break
                if message.visible_at > now:
                    continue
                message.dequeue_count += 1
                message.pop_receipt = uuid.uuid4().hex
                message.visible_at = now + visibility_timeout_s
                received.append(_snapshot(message, message.pop_receipt))
        return received

    async def delete(self, queue: str, message: ReceivedMessage) -> None:
        check_queue_name(queue)
        with self._lock:
            messages = self._queues.get(queue, {})
            current = messages.get(message.id)
            if current is not None and current.pop_receipt == message.pop_receipt:
                del messages[message.id]

    async def retry_later(self, queue: str, message: ReceivedMessage, *, delay_s: float) -> ReceivedMessage:
        check_queue_name(queue)
        check_delay(delay_s, "delay_s")
        with self._lock:
            current = self._queues.get(queue, {}).get(message.id)
            if current is None or current.pop_receipt != message.pop_receipt:
                raise MessageLeaseLost(f"message {message.id} in {queue!r} is no longer held by this receipt")
            current.pop_receipt = uuid.uuid4().hex
            current.visible_at = self._clock() + delay_s
            return _snapshot(current, current.pop_receipt)

    async def depth(self, queue: str) -> int:
        check_queue_name(queue)
        with self._lock:
            return len(self._queues.get(queue, {}))

    async def close(self) -> None:
        return None

    def bodies(self, queue: str) -> list[str]:
        """Bodies of every message in `queue`, visible or not, oldest first (for tests and the demo)."""
        with self._lock:
            return [message.body for message in self._queues.get(queue, {}).values()]


def _snapshot(message: _Message, pop_receipt: str) -> ReceivedMessage:
    return ReceivedMessage(
        id=message.id,
        pop_receipt=pop_receipt,
        body=message.body,
        dequeue_count=message.dequeue_count,
        inserted_at=message.inserted_at,
    )
