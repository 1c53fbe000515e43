"""The work queue: how the webhook path hands slow work to the queue-triggered functions."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

PROVISION_QUEUE = "provision"
RELEASE_QUEUE = "release"


def poison_queue(queue: str) -> str:
    """The Functions host moves a message here after `maxDequeueCount` failed attempts."""
    return f"{queue}-poison"


class MessageLeaseLost(LookupError):
    """The message was deleted or re-received since this receipt was issued; someone else owns it now."""


@dataclass(frozen=True)
class ReceivedMessage:
    id: str
    pop_receipt: str
    body: str
    dequeue_count: int
    inserted_at: datetime | None = None


class WorkQueue(Protocol):
    async def send(self, queue: str, body: str, *, delay_s: float = 0.0) -> None:
        """Enqueue `body`; it becomes visible after `delay_s` (used to wait without burning retries)."""

    async def receive(
        self, queue: str, *, max_messages: int, visibility_timeout_s: float
    ) -> list[ReceivedMessage]:
        """Take up to `max_messages` visible messages, hiding them for `visibility_timeout_s`."""

    async def delete(self, queue: str, message: ReceivedMessage) -> None:
        """Remove a message that was handled (a message already gone is not an error)."""

    async def retry_later(self, queue: str, message: ReceivedMessage, *, delay_s: float) -> ReceivedMessage:
        """Make a received message visible again after `delay_s`; returns it with its new receipt.

        This is Azure's Update Message with a visibility timeout: the Functions host releases a failed
        message with it, and renews the lease of a running one by hiding it again for the whole lease.

        Raises `MessageLeaseLost` when the receipt is stale (the message was deleted or re-received).
        """

    async def depth(self, queue: str) -> int:
        """Approximate number of messages in `queue` (visible or not)."""

    async def close(self) -> None: ...
