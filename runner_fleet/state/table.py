"""Primitives every state backend implements; the rules built on them live in `runner_fleet.state.store`.

Values are flat scalars (str, int, float, bool, None) so that every backend, Azure Tables included,
stores them natively; callers serialise anything nested. Partition and row keys reaching a backend
are already safe for Azure Tables (see `encode_key`).
"""

from __future__ import annotations

import abc
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import quote

Scalar = str | int | float | bool | None
Data = dict[str, Scalar]

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
    async def close(self) -> None: ...
