"""What Azure Tables refuses, checked by every table backend before it writes.

The in-memory table enforces these so that code passing against it does not first fail in Azure;
the Azure adapter checks them to fail before a round trip. Like Azure Tables, a `None` value is
dropped on write and comes back missing.
"""

from __future__ import annotations

import re

from runner_fleet.state.table import Data

RESERVED_PROPERTIES = frozenset({"PartitionKey", "RowKey", "Timestamp"})
MAX_KEY_BYTES = 1024
MAX_PROPERTY_NAME = 255
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1

_FORBIDDEN_KEY_CHARS = re.compile(r"[/\\#?\x00-\x1f\x7f-\x9f]")


def check_key(value: str, what: str) -> None:
    if _FORBIDDEN_KEY_CHARS.search(value):
        raise ValueError(
            f"{what} contains a character Azure Tables forbids in keys (encode it with encode_key)"
        )
    if len(value.encode()) > MAX_KEY_BYTES:
        raise ValueError(f"{what} is longer than {MAX_KEY_BYTES} bytes")


def stored_data(data: Data) -> Data:
    """`data` as the table keeps it: `None` values dropped, everything else checked and copied."""
    stored: Data = {}
    for name, value in data.items():
        if name in RESERVED_PROPERTIES or name.startswith("odata."):
            raise ValueError(f"property name {name!r} is reserved by Azure Tables")
        if not name or len(name) > MAX_PROPERTY_NAME:
            raise ValueError(f"property names must have 1-{MAX_PROPERTY_NAME} characters, got {name!r}")
        if value is None:
            continue
        if isinstance(value, int) and not isinstance(value, bool) and not INT64_MIN <= value <= INT64_MAX:
            raise ValueError(f"property {name!r}: {value} does not fit in a 64-bit integer")
        if not isinstance(value, str | int | float | bool):
            raise TypeError(f"property {name!r}: {type(value).__name__} is not a flat scalar")
        stored[name] = value
    return stored
