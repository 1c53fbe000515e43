"""An in-process state table with Azure Tables semantics, for unit tests, the demo and a local host.

Like Azure Tables, the store does not distinguish a `None` value from an absent property: `None`
values are dropped on write and come back missing. It also rejects what Azure Tables would reject
(forbidden key characters, reserved property names, integers beyond 64 bits), so code that passes
against it does not first fail in Azure (the checks are `state/table_rules.py`, which the Azure adapter
makes too).
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Mapping
from datetime import UTC, datetime

from runner_fleet.state.errors import AlreadyExists, NotFound, PreconditionFailed
from runner_fleet.state.table import Data, Record, StateTable, check_property_name
from runner_fleet.state.table_rules import check_key, stored_data


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

    async def query_where(self, partition: str, equals: Mapping[str, str | bool]) -> list[Record]:
        check_key(partition, "partition")
        for name in equals:
            check_property_name(name)
        with self._lock:
            rows = self._partitions.get(partition, {})
            return [_copy(rows[key]) for key in sorted(rows) if _matches(rows[key].data, equals)]

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


def _matches(data: Data, equals: Mapping[str, str | bool]) -> bool:
    # Typed, as Azure Tables compares: the string "true" is not the boolean true.
    return all(
        name in data and type(data[name]) is type(value) and data[name] == value
        for name, value in equals.items()
    )


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
