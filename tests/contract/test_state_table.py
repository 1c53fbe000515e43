"""The StateTable contract, run against the in-memory table and Azure Tables (Azurite)."""

from __future__ import annotations

from datetime import datetime

import pytest
from azure.data.tables.aio import TableServiceClient

from runner_fleet.adapters.storage import AzureStateTable, StorageEndpoints
from runner_fleet.state.errors import AlreadyExists, NotFound, PreconditionFailed
from runner_fleet.state.table import Data, StateTable, encode_key
from tests.azurite import Azurite
from tests.contract.conftest import unique_table_name


async def test_insert_creates_a_row_and_a_second_insert_raises_already_exists(
    state_table: StateTable,
) -> None:
    """insert returns the stored row; inserting the same partition and key again raises AlreadyExists."""
    record = await state_table.insert("runs", "r1", {"state": "queued"})
    assert (record.partition, record.key, record.data) == ("runs", "r1", {"state": "queued"})
    assert record.etag
    assert isinstance(record.updated_at, datetime)
    assert record.updated_at.tzinfo is not None

    with pytest.raises(AlreadyExists):
        await state_table.insert("runs", "r1", {"state": "other"})
    current = await state_table.get("runs", "r1")
    assert current is not None
    assert current.data == {"state": "queued"}


async def test_get_of_a_missing_row_returns_none(state_table: StateTable) -> None:
    """get returns None for a key that was never written."""
    assert await state_table.get("runs", "missing") is None


async def test_get_returns_the_row_as_written(state_table: StateTable) -> None:
    """get returns the data, ETag and timestamp that the write reported, and no storage metadata."""
    written = await state_table.insert("runs", "r1", {"state": "queued", "attempt": 1})
    read = await state_table.get("runs", "r1")
    assert read == written


async def test_replace_with_the_current_etag_overwrites_the_whole_row(state_table: StateTable) -> None:
    """replace with a current ETag swaps in the new data, drops old properties and issues a new ETag."""
    first = await state_table.insert("runs", "r1", {"state": "queued", "vm": "vm-1"})
    second = await state_table.replace(first, {"state": "running"})

    assert second.data == {"state": "running"}
    assert second.etag != first.etag
    assert second.updated_at >= first.updated_at
    assert await state_table.get("runs", "r1") == second


async def test_replace_with_a_stale_etag_raises_precondition_failed(state_table: StateTable) -> None:
    """replace with an ETag that has since changed raises PreconditionFailed and leaves the row alone."""
    first = await state_table.insert("runs", "r1", {"state": "queued"})
    await state_table.replace(first, {"state": "running"})

    with pytest.raises(PreconditionFailed):
        await state_table.replace(first, {"state": "lost race"})
    current = await state_table.get("runs", "r1")
    assert current is not None
    assert current.data == {"state": "running"}


async def test_replace_of_a_deleted_row_raises_not_found(state_table: StateTable) -> None:
    """replace of a row deleted since it was read raises NotFound and does not recreate it."""
    record = await state_table.insert("runs", "r1", {"state": "queued"})
    assert await state_table.delete("runs", "r1")

    with pytest.raises(NotFound):
        await state_table.replace(record, {"state": "running"})
    assert await state_table.get("runs", "r1") is None


async def test_upsert_creates_then_overwrites_unconditionally(state_table: StateTable) -> None:
    """upsert creates a missing row and replaces an existing one whole, each time with a new ETag."""
    created = await state_table.upsert("runs", "r1", {"state": "queued", "vm": "vm-1"})
    overwritten = await state_table.upsert("runs", "r1", {"state": "done"})

    assert overwritten.data == {"state": "done"}
    assert overwritten.etag != created.etag
    assert await state_table.get("runs", "r1") == overwritten


async def test_delete_reports_whether_a_row_was_removed(state_table: StateTable) -> None:
    """delete without an ETag removes the row and returns True; deleting it again returns False."""
    await state_table.insert("runs", "r1", {"state": "queued"})
    assert await state_table.delete("runs", "r1") is True
    assert await state_table.get("runs", "r1") is None
    assert await state_table.delete("runs", "r1") is False


async def test_delete_with_an_etag_is_conditional(state_table: StateTable) -> None:
    """delete with a stale ETag raises PreconditionFailed; with the current one it removes the row."""
    first = await state_table.insert("runs", "r1", {"state": "queued"})
    second = await state_table.replace(first, {"state": "running"})

    with pytest.raises(PreconditionFailed):
        await state_table.delete("runs", "r1", etag=first.etag)
    assert await state_table.get("runs", "r1") is not None

    assert await state_table.delete("runs", "r1", etag=second.etag) is True
    assert await state_table.delete("runs", "r1", etag=second.etag) is False


async def test_query_returns_one_partition_in_key_order(state_table: StateTable) -> None:
    """query returns every row of its partition sorted by key, and nothing from other partitions."""
    for key in ("b", "c", "a"):
        await state_table.insert("p1", key, {"key": key})
    await state_table.insert("p2", "a", {"key": "other"})
    await state_table.insert("p10", "a", {"key": "prefix"})

    records = await state_table.query("p1")
    assert [record.key for record in records] == ["a", "b", "c"]
    assert {record.partition for record in records} == {"p1"}
    assert [record.data for record in records] == [{"key": "a"}, {"key": "b"}, {"key": "c"}]
    assert await state_table.query("empty") == []


async def test_query_where_returns_only_the_matching_rows_of_one_partition(state_table: StateTable) -> None:
    """query_where returns, in key order, the partition's rows whose properties equal every value given."""
    await state_table.insert("jobs", "c", {"state": "provisioning", "pool": "a"})
    await state_table.insert("jobs", "a", {"state": "provisioning", "pool": "b"})
    await state_table.insert("jobs", "b", {"state": "done", "pool": "a"})
    await state_table.insert("jobs", "d", {"pool": "a"})  # no state at all
    await state_table.insert("other", "a", {"state": "provisioning"})

    matching = await state_table.query_where("jobs", {"state": "provisioning"})
    assert [(record.partition, record.key) for record in matching] == [("jobs", "a"), ("jobs", "c")]
    assert matching == [await state_table.get("jobs", "a"), await state_table.get("jobs", "c")]
    both = await state_table.query_where("jobs", {"state": "provisioning", "pool": "a"})
    assert [record.key for record in both] == ["c"]
    assert await state_table.query_where("jobs", {"state": "released"}) == []
    assert await state_table.query_where("empty", {"state": "done"}) == []


async def test_query_where_compares_values_with_their_types(state_table: StateTable) -> None:
    """A boolean matches only the boolean, a string only the same string, quotes and spaces included."""
    await state_table.insert("p", "bool", {"flag": True})
    await state_table.insert("p", "text", {"flag": "true"})
    await state_table.insert("p", "quoted", {"flag": "it's' or true"})

    assert [r.key for r in await state_table.query_where("p", {"flag": True})] == ["bool"]
    assert [r.key for r in await state_table.query_where("p", {"flag": "true"})] == ["text"]
    assert [r.key for r in await state_table.query_where("p", {"flag": "it's' or true"})] == ["quoted"]
    assert await state_table.query_where("p", {"flag": "it"}) == []


async def test_query_where_refuses_names_that_are_not_plain_properties(state_table: StateTable) -> None:
    """A key column or anything but an identifier as a property name raises ValueError on every backend."""
    await state_table.insert("p", "k", {"state": "done"})
    for name in ("RowKey", "PartitionKey", "state eq 'done' or RowKey", "", "a-b"):
        with pytest.raises(ValueError, match="property name"):
            await state_table.query_where("p", {name: "done"})
    with pytest.raises(ValueError, match="forbids"):
        await state_table.query_where("a#b", {"state": "done"})


async def test_scalar_values_round_trip_with_their_types(state_table: StateTable) -> None:
    """Strings, 32- and 64-bit integers, floats and booleans come back equal and of the same type."""
    data: Data = {
        "text": "héllo ✓ 日本 🚀 'quoted' \"double\"",
        "empty": "",
        "small": 42,
        "negative": -7,
        "zero": 0,
        "int32_max": 2**31 - 1,
        "above_int32": 2**31,
        "big": 2**40 + 3,
        "big_negative": -(2**40),
        "int64_max": 2**63 - 1,
        "ratio": 2.5,
        "whole_float": 3.0,
        "yes": True,
        "no": False,
    }
    await state_table.insert("types", "row", data)
    read = await state_table.get("types", "row")
    assert read is not None
    assert read.data == data
    assert {name: type(value) for name, value in read.data.items()} == {
        name: type(value) for name, value in data.items()
    }


async def test_none_values_are_stored_as_absent(state_table: StateTable) -> None:
    """A None value is not stored: the property is missing from the written and the read row."""
    written = await state_table.upsert("types", "row", {"kept": "x", "dropped": None})
    assert written.data == {"kept": "x"}
    read = await state_table.get("types", "row")
    assert read is not None
    assert read.data == {"kept": "x"}


async def test_encoded_keys_with_forbidden_characters_round_trip(state_table: StateTable) -> None:
    """Keys made safe by encode_key from text with '/', '#', '?', '%' and quotes work everywhere."""
    partition = encode_key("github/org's-repo")
    key = encode_key("run#12?attempt=1%/x")
    await state_table.insert(partition, key, {"v": 1})
    await state_table.insert(partition, encode_key("run#13"), {"v": 2})

    read = await state_table.get(partition, key)
    assert read is not None
    assert (read.partition, read.key) == (partition, key)
    assert [record.key for record in await state_table.query(partition)] == sorted(
        [key, encode_key("run#13")]
    )
    assert await state_table.delete(partition, key) is True


async def test_raw_keys_with_forbidden_characters_are_rejected(state_table: StateTable) -> None:
    """A key with a character Azure Tables forbids raises ValueError on every backend."""
    with pytest.raises(ValueError, match="forbids"):
        await state_table.insert("runs", "org/repo", {"v": 1})
    with pytest.raises(ValueError, match="forbids"):
        await state_table.get("a#b", "k")


async def test_values_the_store_cannot_hold_are_rejected(state_table: StateTable) -> None:
    """Integers beyond 64 bits and reserved property names raise ValueError on every backend."""
    with pytest.raises(ValueError, match="64-bit"):
        await state_table.insert("runs", "r1", {"huge": 2**63})
    with pytest.raises(ValueError, match="reserved"):
        await state_table.insert("runs", "r1", {"PartitionKey": "elsewhere"})
    assert await state_table.get("runs", "r1") is None


async def test_azure_table_deleted_behind_the_adapters_back_is_created_again(
    azurite: Azurite, storage_endpoints: StorageEndpoints
) -> None:
    """If the table the adapter already created is deleted, the next call recreates it and succeeds."""
    name = unique_table_name()
    table = AzureStateTable.from_endpoints(storage_endpoints, name)
    try:
        await table.insert("runs", "r1", {"v": 1})
        async with TableServiceClient.from_connection_string(azurite.connection_string) as service:
            await service.delete_table(name)
        assert await table.get("runs", "r1") is None
        await table.insert("runs", "r1", {"v": 2})
        assert [record.data for record in await table.query("runs")] == [{"v": 2}]
    finally:
        await table.close()
