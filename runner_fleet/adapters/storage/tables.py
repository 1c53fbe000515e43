"""`StateTable` on one Azure Table, created on first use.

Values keep their Python type across a round trip: integers beyond 32 bits are written as Edm.Int64
(the SDK types every plain int as Int32 and rejects larger ones), floats as Edm.Double, booleans as
Edm.Boolean. `None` values are dropped on write and come back missing: the store does not distinguish
`None` from an absent property, and the in-memory table behaves the same.
"""

from __future__ import annotations

import base64
import contextlib
import re
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import unquote

from azure.core import MatchConditions
from azure.core.exceptions import (
    HttpResponseError,
    ResourceExistsError,
    ResourceModifiedError,
    ResourceNotFoundError,
)
from azure.data.tables import EdmType, EntityProperty, TableEntity, UpdateMode
from azure.data.tables.aio import TableClient, TableServiceClient

from runner_fleet.adapters.storage.connection import (
    StorageEndpoints,
    identity_credential,
    table_service_client,
)
from runner_fleet.state.errors import AlreadyExists, NotFound, PreconditionFailed
from runner_fleet.state.table import Data, Record, Scalar, StateTable, check_property_name
from runner_fleet.state.table_rules import check_key, stored_data

if TYPE_CHECKING:
    from azure.core.credentials_async import AsyncTokenCredential
    from azure.core.pipeline import PipelineResponse

DEFAULT_TABLE = "runnerfleet"

_TABLE_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9]{2,62}$")
_INT32_MIN, _INT32_MAX = -(2**31), 2**31 - 1
_KEYS = ("PartitionKey", "RowKey")
# Azure Tables' ETag is the row's Timestamp; reading it back spares a second request after each write.
_ETAG_TIMESTAMP = re.compile(r"^W/\"datetime'(?P<stamp>[^']+)'\"$")
_T = TypeVar("_T")


class AzureStateTable(StateTable):
    """`StateTable` on the table `table_name`; `owned_credential`, when given, is closed with it."""

    def __init__(
        self,
        service: TableServiceClient,
        table_name: str = DEFAULT_TABLE,
        *,
        owned_credential: AsyncTokenCredential | None = None,
    ) -> None:
        if not _TABLE_NAME.match(table_name):
            raise ValueError(
                f"invalid table name {table_name!r}: 3-63 letters and digits, starting with a letter"
            )
        self._service = service
        self._owned_credential = owned_credential
        self._client: TableClient = service.get_table_client(table_name)
        self._created = False

    @classmethod
    def from_endpoints(
        cls,
        endpoints: StorageEndpoints,
        table_name: str = DEFAULT_TABLE,
        credential: AsyncTokenCredential | None = None,
    ) -> AzureStateTable:
        """With identity-based endpoints and no `credential`, uses (and later closes) its own."""
        owned = None
        if credential is None and endpoints.uses_identity:
            credential = owned = identity_credential(endpoints)
        return cls(table_service_client(endpoints, credential), table_name, owned_credential=owned)

    async def _table(self) -> TableClient:
        if not self._created:
            # Another worker may create it at the same moment.
            with contextlib.suppress(ResourceExistsError):
                await self._client.create_table()
            self._created = True
        return self._client

    async def _call(self, operation: Callable[[TableClient], Awaitable[_T]]) -> _T:
        """Run `operation`, creating the table again (once) if someone deleted it behind our back."""
        try:
            return await operation(await self._table())
        except HttpResponseError as error:
            if _error_code(error) != "TableNotFound":
                raise
        self._created = False
        return await operation(await self._table())

    async def insert(self, partition: str, key: str, data: Data) -> Record:
        _check_keys(partition, key)
        stored = stored_data(data)
        try:
            metadata = await self._call(lambda table: table.create_entity(_entity(partition, key, stored)))
        except ResourceExistsError:
            raise AlreadyExists(f"row {partition}/{key} already exists") from None
        return _written(partition, key, stored, metadata)

    async def get(self, partition: str, key: str) -> Record | None:
        _check_keys(partition, key)
        try:
            entity = await self._call(lambda table: table.get_entity(partition_key=partition, row_key=key))
        except ResourceNotFoundError:
            return None
        return _read(entity)

    async def replace(self, record: Record, data: Data) -> Record:
        _check_keys(record.partition, record.key)
        stored = stored_data(data)
        try:
            metadata = await self._call(
                lambda table: table.update_entity(
                    _entity(record.partition, record.key, stored),
                    mode=UpdateMode.REPLACE,
                    etag=record.etag,
                    match_condition=MatchConditions.IfNotModified,
                )
            )
        except ResourceModifiedError:
            raise PreconditionFailed(
                f"row {record.partition}/{record.key} changed since it was read"
            ) from None
        except ResourceNotFoundError:
            raise NotFound(f"row {record.partition}/{record.key} does not exist") from None
        return _written(record.partition, record.key, stored, metadata)

    async def upsert(self, partition: str, key: str, data: Data) -> Record:
        _check_keys(partition, key)
        stored = stored_data(data)
        metadata = await self._call(
            lambda table: table.upsert_entity(_entity(partition, key, stored), mode=UpdateMode.REPLACE)
        )
        return _written(partition, key, stored, metadata)

    async def delete(self, partition: str, key: str, *, etag: str | None = None) -> bool:
        _check_keys(partition, key)
        # The SDK hides a 404 on delete; the status of the final attempt tells whether a row went away.
        statuses: list[int] = []

        def record_status(response: PipelineResponse[Any, Any]) -> None:
            statuses.append(response.http_response.status_code)

        conditions: dict[str, Any] = {}
        if etag is not None:
            conditions = {"etag": etag, "match_condition": MatchConditions.IfNotModified}
        try:
            await self._table()
            await self._client.delete_entity(
                partition_key=partition, row_key=key, raw_response_hook=record_status, **conditions
            )
        except ResourceModifiedError:
            raise PreconditionFailed(f"row {partition}/{key} changed since it was read") from None
        return bool(statuses) and statuses[-1] != 404

    async def query(self, partition: str) -> list[Record]:
        check_key(partition, "partition")

        async def rows(table: TableClient) -> list[Record]:
            # A parameterised filter: the SDK quotes the value, so no key is ever spliced into OData.
            entities = table.query_entities("PartitionKey eq @partition", parameters={"partition": partition})
            return [_read(entity) async for entity in entities]

        return await self._call(rows)

    async def query_where(self, partition: str, equals: Mapping[str, str | bool]) -> list[Record]:
        check_key(partition, "partition")
        clauses = ["PartitionKey eq @partition"]
        parameters: dict[str, Any] = {"partition": partition}
        for index, (name, value) in enumerate(equals.items()):
            check_property_name(name)  # names are spliced into the filter; values are parameters
            clauses.append(f"{name} eq @p{index}")
            parameters[f"p{index}"] = value
        query_filter = " and ".join(clauses)

        async def rows(table: TableClient) -> list[Record]:
            # The service applies the filter, so only matching rows cross the wire; it still reads
            # the partition, and may answer a long scan in several pages, which the SDK follows.
            entities = table.query_entities(query_filter, parameters=parameters)
            return [_read(entity) async for entity in entities]

        return await self._call(rows)

    async def close(self) -> None:
        try:
            await self._client.close()
            await self._service.close()
        finally:
            if self._owned_credential is not None:
                await self._owned_credential.close()


def _check_keys(partition: str, key: str) -> None:
    check_key(partition, "partition")
    check_key(key, "key")


def _entity(partition: str, key: str, data: Data) -> dict[str, Any]:
    entity: dict[str, Any] = {"PartitionKey": partition, "RowKey": key}
    for name, value in data.items():
        if isinstance(value, int) and not isinstance(value, bool) and not _INT32_MIN <= value <= _INT32_MAX:
            entity[name] = EntityProperty(value, EdmType.INT64)
        else:
            entity[name] = value
    return entity


def _read(entity: TableEntity) -> Record:
    data: Data = {name: _scalar(value) for name, value in entity.items() if name not in _KEYS}
    etag = entity.metadata.get("etag")
    if not etag:
        raise RuntimeError("the table service returned an entity without an ETag")
    return Record(
        partition=entity["PartitionKey"],
        key=entity["RowKey"],
        data=data,
        etag=etag,
        updated_at=_plain_datetime(entity.metadata.get("timestamp")),
    )


def _scalar(value: Any) -> Scalar:
    if isinstance(value, EntityProperty):
        value = value.value
    if isinstance(value, str | bool | int | float):
        return value
    # Types this service never writes (dates, GUIDs, binary) but another writer might have.
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    return str(value)


def _written(partition: str, key: str, data: Data, metadata: Mapping[str, Any]) -> Record:
    etag = str(metadata["etag"])
    return Record(
        partition=partition,
        key=key,
        data=dict(data),
        etag=etag,
        updated_at=_etag_timestamp(etag) or _plain_datetime(metadata.get("date")),
    )


def _etag_timestamp(etag: str) -> datetime | None:
    match = _ETAG_TIMESTAMP.match(etag)
    if match is None:
        return None
    # The service keeps 100 ns ticks; datetime keeps microseconds, truncated like the SDK's own reads.
    seconds, _, fraction = unquote(match["stamp"]).rstrip("Z").partition(".")
    try:
        stamp = datetime.strptime(seconds, "%Y-%m-%dT%H:%M:%S")
    except ValueError:
        return None
    return stamp.replace(microsecond=int(fraction[:6].ljust(6, "0")) if fraction.isdigit() else 0, tzinfo=UTC)


def _plain_datetime(value: Any) -> datetime:
    if not isinstance(value, datetime):
        return datetime.now(UTC)
    return datetime(
        value.year,
        value.month,
        value.day,
        value.hour,
        value.minute,
        value.second,
        value.microsecond,
        tzinfo=value.tzinfo or UTC,
    )


def _error_code(error: HttpResponseError) -> str | None:
    code = getattr(error, "error_code", None)
    headers = getattr(error.response, "headers", None)
    if code is None and headers is not None:
        code = headers.get("x-ms-error-code")
    # The SDK reports some codes as TableErrorCode members and others as plain strings.
    return None if code is None else str(getattr(code, "value", code))
