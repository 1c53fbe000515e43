"""What Azure Storage queues refuse, checked by every queue backend before it sends or stores.

The in-memory queue enforces these so that code passing against it does not first fail in Azure;
the Azure adapter checks them to fail before a round trip.
"""

from __future__ import annotations

import base64
import re

MAX_DELAY_S = 7 * 24 * 3600.0
# Azure counts the message as it travels: base64 text, at most 64 KiB.
MAX_ENCODED_MESSAGE_BYTES = 64 * 1024

_QUEUE_NAME = re.compile(r"^[a-z0-9](?:[a-z0-9]|-(?!-))*[a-z0-9]$")


def check_queue_name(queue: str) -> None:
    if not 3 <= len(queue) <= 63 or not _QUEUE_NAME.match(queue):
        raise ValueError(
            f"invalid queue name {queue!r}: 3-63 lowercase letters, digits and single hyphens, "
            "starting and ending with a letter or digit"
        )


def check_delay(delay_s: float, what: str) -> None:
    if not 0.0 <= delay_s <= MAX_DELAY_S:
        raise ValueError(f"{what} must be between 0 and {MAX_DELAY_S:.0f} seconds, got {delay_s}")


def encode_body(body: str) -> str:
    """The wire form of a message body: base64 of its UTF-8, what the Functions host expects by default."""
    encoded = base64.b64encode(body.encode()).decode("ascii")
    if len(encoded) > MAX_ENCODED_MESSAGE_BYTES:
        raise ValueError(
            f"message too large: {len(encoded)} bytes once base64-encoded, "
            f"the limit is {MAX_ENCODED_MESSAGE_BYTES}"
        )
    return encoded
