"""The work queue and the state table on Azure Storage (queues and Tables), via the async SDKs."""

from __future__ import annotations

from collections.abc import Mapping

from runner_fleet.adapters.storage.connection import (
    DEFAULT_CONNECTION,
    StorageEndpoints,
    StorageSettingsError,
    identity_credential,
    queue_service_client,
    table_service_client,
)
from runner_fleet.adapters.storage.queue import AzureWorkQueue
from runner_fleet.adapters.storage.tables import DEFAULT_TABLE, AzureStateTable
from runner_fleet.ports.queue import WorkQueue
from runner_fleet.state.table import StateTable

__all__ = [
    "DEFAULT_CONNECTION",
    "DEFAULT_TABLE",
    "AzureStateTable",
    "AzureWorkQueue",
    "StorageEndpoints",
    "StorageSettingsError",
    "identity_credential",
    "queue_service_client",
    "storage_from_settings",
    "table_service_client",
]


def storage_from_settings(
    settings: Mapping[str, str],
    *,
    connection: str = DEFAULT_CONNECTION,
    table_name: str = DEFAULT_TABLE,
) -> tuple[WorkQueue, StateTable]:
    """The queue and the state table for the Functions storage settings (pass `os.environ`).

    No request is made here: queues and the table are created on first use. With identity-based
    settings each adapter owns its own credential and closes it with itself.
    """
    endpoints = StorageEndpoints.from_settings(settings, connection)
    return AzureWorkQueue.from_endpoints(endpoints), AzureStateTable.from_endpoints(endpoints, table_name)
