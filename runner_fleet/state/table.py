"""Primitives every state backend implements; the rules built on them live in `runner_fleet.state.store`.

Values are flat scalars (str, int, float, bool, None) so that every backend, Azure Tables included,
stores them natively; callers serialise anything nested. Partition and row keys reaching a backend
are already safe for Azure Tables (see `encode_key`).
"""

from __future__ import annotations

import abc
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import quote

Scalar = str | int | float | bool | None
Data = dict[str, Scalar]


def number(value: object) -> float | None:
    """A number a row holds, as a float; None for anything else (a boolean included)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


# A property name a filter may name: an identifier, never spliced into a query unchecked.
_PROPERTY_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,254}$")
_KEY_PROPERTIES = frozenset({"PartitionKey", "RowKey", "Timestamp"})

# Azure Tables forbids these in keys; percent-encoding keeps keys readable and reversible.
_FORBIDDEN_IN_KEYS = "/\\#?%"


def encode_key(raw: str) -> str:
    encoded = "".join(
        quote(ch, safe="") if ch in _FORBIDDEN_IN_KEYS or ord(ch) < 32 or 0x7F <= ord(ch) <= 0x9F else ch
        for ch in raw
    )
    if len(encoded.encode()) > 1024:
        raise ValueError("state key longer than 1 KiB")
    return encoded


def check_property_name(name: str) -> None:
    """Refuse a name that is not a plain property (`query_where` filters on data, not on keys)."""
    if not _PROPERTY_NAME.match(name) or name in _KEY_PROPERTIES:
        raise ValueError(f"{name!r} is not a property name a query may filter on")


@dataclass(frozen=True)
class Record:
    partition: str
    key: str
    data: Data
    etag: str
    updated_at: datetime


class StateTable(abc.ABC):
    @abc.abstractmethod
    async def insert(self, partition: str, key: str, data: Data) -> Record:
        """Create a row; raise `AlreadyExists` if one exists."""

    @abc.abstractmethod
    async def get(self, partition: str, key: str) -> Record | None: ...

    @abc.abstractmethod
    async def replace(self, record: Record, data: Data) -> Record:
        """Replace a row only if its ETag is still `record.etag` (`PreconditionFailed`, `NotFound`)."""

    @abc.abstractmethod
    async def upsert(self, partition: str, key: str, data: Data) -> Record:
        """Create or overwrite a row unconditionally."""

    @abc.abstractmethod
    async def delete(self, partition: str, key: str, *, etag: str | None = None) -> bool:
        """Delete a row; False if absent. With `etag`, raise `PreconditionFailed` if it changed."""

    @abc.abstractmethod
    async def query(self, partition: str) -> list[Record]:
        """All rows of one partition, in key order."""

    @abc.abstractmethod
    async def query_where(self, partition: str, equals: Mapping[str, str | bool]) -> list[Record]:
        """The rows of one partition whose properties equal every value of `equals`, in key order.

        A row without one of the properties, or holding a value of another type, does not match.
        The backend filters where the rows are kept (Azure Tables: a `$filter` on the properties),
        so only matching rows are returned. Names must be plain identifiers (`check_property_name`).
        """

    @abc.abstractmethod
    async def close(self) -> None: ...
