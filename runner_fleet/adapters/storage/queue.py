"""`WorkQueue` on Azure Storage queues, in the wire format the Functions host's queue trigger reads.

Bodies travel base64-encoded (the host's default `messageEncoding`), queues are created on first use
and messages never expire, so a job waiting for capacity is not silently dropped after seven days.
Azure counts visibility in whole seconds: delays and timeouts are rounded up, never down.
Lease rules match the in-memory queue: a stale pop receipt makes `delete` a no-op and `retry_later`
raise `MessageLeaseLost`.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import math
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, TypeVar

from azure.core.exceptions import HttpResponseError, ResourceExistsError
from azure.storage.queue.aio import QueueClient, QueueServiceClient

from runner_fleet.adapters.storage.connection import (
    StorageEndpoints,
    identity_credential,
    queue_service_client,
)
from runner_fleet.logs import get_logger
from runner_fleet.ports.queue import MessageLeaseLost, ReceivedMessage
from runner_fleet.ports.queue_rules import check_delay, check_queue_name, encode_body

if TYPE_CHECKING:
    from azure.core.credentials_async import AsyncTokenCredential
    from azure.storage.queue import QueueMessage

log = get_logger("storage.queue")

_NEVER_EXPIRE = -1
# A stale receipt or a message deleted since: either way this lease is gone.
_LEASE_GONE_CODES = frozenset({"MessageNotFound", "PopReceiptMismatch"})
_T = TypeVar("_T")


class AzureWorkQueue:
    """`WorkQueue` on one storage account's queue service.

    `owned_credential`, when given, is closed together with the queue.
    """

    def __init__(
        self, service: QueueServiceClient, *, owned_credential: AsyncTokenCredential | None = None
    ) -> None:
        self._service = service
        self._owned_credential = owned_credential
        self._clients: dict[str, QueueClient] = {}
        self._created: set[str] = set()

    @classmethod
    def from_endpoints(
        cls, endpoints: StorageEndpoints, credential: AsyncTokenCredential | None = None
    ) -> AzureWorkQueue:
        """With identity-based endpoints and no `credential`, uses (and later closes) its own."""
        owned = None
        if credential is None and endpoints.uses_identity:
            credential = owned = identity_credential(endpoints)
        return cls(queue_service_client(endpoints, credential), owned_credential=owned)

    async def _queue(self, queue: str) -> QueueClient:
        check_queue_name(queue)
        client = self._clients.get(queue)
        if client is None:
            # No encode or decode policy: this adapter does base64 itself so it can survive foreign messages.
            client = self._clients[queue] = self._service.get_queue_client(queue)
        if queue not in self._created:
            # Another worker may create it at the same moment.
            with contextlib.suppress(ResourceExistsError):
                await client.create_queue()
            self._created.add(queue)
        return client

    async def _call(self, queue: str, operation: Callable[[QueueClient], Awaitable[_T]]) -> _T:
        """Run `operation`, creating the queue again (once) if someone deleted it behind our back."""
        try:
            return await operation(await self._queue(queue))
        except HttpResponseError as error:
            if _error_code(error) != "QueueNotFound":
                raise
        self._created.discard(queue)
        return await operation(await self._queue(queue))

    async def send(self, queue: str, body: str, *, delay_s: float = 0.0) -> None:
        check_delay(delay_s, "delay_s")
        wire = encode_body(body)
        await self._call(
            queue,
            lambda client: client.send_message(
                wire, visibility_timeout=_whole_seconds(delay_s), time_to_live=_NEVER_EXPIRE
            ),
        )

    async def receive(
        self, queue: str, *, max_messages: int, visibility_timeout_s: float
    ) -> list[ReceivedMessage]:
        if max_messages < 1:
            raise ValueError(f"max_messages must be at least 1, got {max_messages}")
        check_delay(visibility_timeout_s, "visibility_timeout_s")

        async def take(client: QueueClient) -> list[ReceivedMessage]:
            pages = client.receive_messages(
                max_messages=max_messages,
                messages_per_page=min(max_messages, 32),  # the service hands out at most 32 per call
                # The service takes at least one second; zero is not a valid receive timeout.
                visibility_timeout=max(1, _whole_seconds(visibility_timeout_s)),
            )
            return [_received(queue, message) async for message in pages]

        return await self._call(queue, take)

    async def delete(self, queue: str, message: ReceivedMessage) -> None:
        try:
            await self._call(queue, lambda client: client.delete_message(message.id, message.pop_receipt))
        except HttpResponseError as error:
            if _error_code(error) not in _LEASE_GONE_CODES:
                raise

    async def retry_later(self, queue: str, message: ReceivedMessage, *, delay_s: float) -> ReceivedMessage:
        check_delay(delay_s, "delay_s")
        try:
            updated = await self._call(
                queue,
                lambda client: client.update_message(
                    message.id, message.pop_receipt, visibility_timeout=_whole_seconds(delay_s)
                ),
            )
        except HttpResponseError as error:
            if _error_code(error) in _LEASE_GONE_CODES:
                raise MessageLeaseLost(
                    f"message {message.id} in {queue!r} is no longer held by this receipt"
                ) from None
            raise
        if updated.pop_receipt is None:
            raise RuntimeError("the queue service updated a message without returning a pop receipt")
        return ReceivedMessage(
            id=message.id,
            pop_receipt=updated.pop_receipt,
            body=message.body,
            dequeue_count=message.dequeue_count,
            inserted_at=message.inserted_at,
        )

    async def depth(self, queue: str) -> int:
        properties = await self._call(queue, lambda client: client.get_queue_properties())
        return int(properties.approximate_message_count or 0)

    async def close(self) -> None:
        clients, self._clients = list(self._clients.values()), {}
        try:
            for client in clients:
                await client.close()
            await self._service.close()
        finally:
            if self._owned_credential is not None:
                await self._owned_credential.close()


def _whole_seconds(seconds: float) -> int:
    return math.ceil(seconds)


def _error_code(error: HttpResponseError) -> str | None:
    code = getattr(error, "error_code", None)
    headers = getattr(error.response, "headers", None)
    if code is None and headers is not None:
        code = headers.get("x-ms-error-code")
    # The SDK reports some codes as StorageErrorCode members and others as plain strings.
    return None if code is None else str(getattr(code, "value", code))


def _received(queue: str, message: QueueMessage) -> ReceivedMessage:
    if message.pop_receipt is None or message.dequeue_count is None:
        raise RuntimeError("the queue service returned a received message without its lease")
    return ReceivedMessage(
        id=message.id,
        pop_receipt=message.pop_receipt,
        body=_decode_body(queue, message.id, message.content),
        dequeue_count=message.dequeue_count,
        inserted_at=message.inserted_on,
    )


def _decode_body(queue: str, message_id: str, raw: object) -> str:
    text = raw if isinstance(raw, str) else str(raw or "")
    try:
        return base64.b64decode(text, validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        # Hand a foreign, unencoded message over as is rather than wedge every receive on it; the
        # handler rejects what it cannot parse and the message reaches the poison queue.
        log.warning("queue.message_not_base64", message_id=message_id, queue=queue)
        return text
