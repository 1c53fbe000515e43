"""A `StateTable` that counts what passes through it, over any backend (memory or Azure Tables).

For the state benchmark (`bench/state_growth.py`) and for tests that bound what a use case reads:
every primitive call is one table operation (one request to Azure Tables, paging aside), and every
row a read returns is counted against its partition.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping

from runner_fleet.state.table import Data, Record, StateTable


class CountingStateTable(StateTable):
    """Passes every call to `inner`; counts calls by primitive and rows read by partition.

    `full_partition_reads`: answer `query_where` by reading the whole partition and filtering here,
    which is what a reader that cannot filter in the table pays (rows read count the whole partition).
    """

    def __init__(self, inner: StateTable, *, full_partition_reads: bool = False) -> None:
        self.inner = inner
        self.full_partition_reads = full_partition_reads
        self.operations: Counter[str] = Counter()
        self.rows_read: Counter[str] = Counter()

    def reset(self) -> None:
        self.operations.clear()
        self.rows_read.clear()

    def _read(self, partition: str, records: list[Record]) -> list[Record]:
        self.rows_read[partition] += len(records)
        return records

    async def insert(self, partition: str, key: str, data: Data) -> Record:
        self.operations["insert"] += 1
        return await self.inner.insert(partition, key, data)

    async def get(self, partition: str, key: str) -> Record | None:
        self.operations["get"] += 1
        record = await self.inner.get(partition, key)
        self._read(partition, [record] if record is not None else [])
        return record

    async def replace(self, record: Record, data: Data) -> Record:
        self.operations["replace"] += 1
        return await self.inner.replace(record, data)

    async def upsert(self, partition: str, key: str, data: Data) -> Record:
        self.operations["upsert"] += 1
        return await self.inner.upsert(partition, key, data)

    async def delete(self, partition: str, key: str, *, etag: str | None = None) -> bool:
        self.operations["delete"] += 1
        return await self.inner.delete(partition, key, etag=etag)

    async def query(self, partition: str) -> list[Record]:
        self.operations["query"] += 1
        return self._read(partition, await self.inner.query(partition))

    async def query_where(self, partition: str, equals: Mapping[str, str | bool]) -> list[Record]:
        if not self.full_partition_reads:
            self.operations["query_where"] += 1
            return self._read(partition, await self.inner.query_where(partition, equals))
        every = await self.query(partition)
        return [
            record
            for record in every
            if all(
                type(record.data.get(name)) is type(value) and record.data.get(name) == value
                for name, value in equals.items()
            )
        ]

    async def close(self) -> None:
        await self.inner.close()
