"""An in-process state table with Azure Tables semantics, for unit tests, the demo and a local host.

Like Azure Tables, the store does not distinguish a `None` value from an absent property: `None`
values are dropped on write and come back missing. It also rejects what Azure Tables would reject
(forbidden key characters, reserved property names, integers beyond 64 bits), so code that passes
against it does not first fail in Azure; the Azure adapter reuses the same checks.
"""

from __future__ import annotations

import itertools
import re
import threading
from collections.abc import Callable
from datetime import UTC, datetime

from runner_fleet.state.errors import AlreadyExists, NotFound, PreconditionFailed
from runner_fleet.state.table import Data, Record, StateTable

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


def _utc_now() -> datetime:
    return datetime.now(UTC)


class MemoryStateTable(StateTable):
    """`StateTable` in memory; safe from several asyncio tasks and several threads at once.

    `now` stamps `updated_at`; tests inject it to control time.
    """

    def __init__(self, *, now: Callable[[], datetime] = _utc_now) -> None:
        self._now = now
        # A plain lock, never held across an await: callers may be on other threads and other loops.
        self._lock = threading.Lock()
        self._partitions: dict[str, dict[str, Record]] = {}
        # A table-wide counter, so an ETag is never reused, not even by a row deleted and recreated.
        self._versions = itertools.count(1)

    def _write(self, partition: str, key: str, data: Data) -> Record:
        """Store a new version of a row; the caller holds the lock and has checked the keys."""
        record = Record(
            partition=partition,
            key=key,
            data=data,
            etag=f'W/"{next(self._versions)}"',
            updated_at=self._now(),
        )
        self._partitions.setdefault(partition, {})[key] = record
        return _copy(record)

    async def insert(self, partition: str, key: str, data: Data) -> Record:
        _check_keys(partition, key)
        stored = stored_data(data)
        with self._lock:
            if key in self._partitions.get(partition, {}):
                raise AlreadyExists(f"row {partition}/{key} already exists")
            return self._write(partition, key, stored)

    async def get(self, partition: str, key: str) -> Record | None:
        _check_keys(partition, key)
        with self._lock:
            record = self._partitions.get(partition, {}).get(key)
            return None if record is None else _copy(record)

    async def replace(self, record: Record, data: Data) -> Record:
        _check_keys(record.partition, record.key)
        stored = stored_data(data)
        with self._lock:
            current = self._partitions.get(record.partition, {}).get(record.key)
            if current is None:
                raise NotFound(f"row {record.partition}/{record.key} does not exist")
            if current.etag != record.etag:
                raise PreconditionFailed(f"row {record.partition}/{record.key} changed since it was read")
            return self._write(record.partition, record.key, stored)

    async def upsert(self, partition: str, key: str, data: Data) -> Record:
        _check_keys(partition, key)
        stored = stored_data(data)
        with self._lock:
            return self._write(partition, key, stored)

    async def delete(self, partition: str, key: str, *, etag: str | None = None) -> bool:
        _check_keys(partition, key)
        with self._lock:
            rows = self._partitions.get(partition, {})
            current = rows.get(key)
            if current is None:
                return False
            if etag is not None and current.etag != etag:
                raise PreconditionFailed(f"row {partition}/{key} changed since it was read")
            del rows[key]
            if not rows:
                del self._partitions[partition]
            return True

    async def query(self, partition: str) -> list[Record]:
        check_key(partition, "partition")
        with self._lock:
            rows = self._partitions.get(partition, {})
            return [_copy(rows[key]) for key in sorted(rows)]

    async def close(self) -> None:
        return None

    def records(self) -> list[Record]:
        """Every row, by partition then key (for tests and the demo)."""
        with self._lock:
            return [
                _copy(rows[key])
                for partition, rows in sorted(self._partitions.items())
                for key in sorted(rows)
            ]


def _check_keys(partition: str, key: str) -> None:
    check_key(partition, "partition")
    check_key(key, "key")


def _copy(record: Record) -> Record:
    # Records are frozen but their data dict is not; callers must not reach into the table's copy.
    return Record(
        partition=record.partition,
        key=record.key,
        data=dict(record.data),
        etag=record.etag,
        updated_at=record.updated_at,
    )
