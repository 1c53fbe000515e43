"""Reading the storage connection from Functions settings: connection strings and identity-based URIs."""

from __future__ import annotations

from types import TracebackType
from typing import Any

import pytest
from azure.core.credentials import AccessToken

from runner_fleet.adapters.storage import (
    AzureStateTable,
    AzureWorkQueue,
    StorageEndpoints,
    StorageSettingsError,
    queue_service_client,
    storage_from_settings,
    table_service_client,
)
from tests.azurite import Azurite
from tests.contract.conftest import unique_queue_name, unique_table_name

SECRET_KEY = "c2VjcmV0LWFjY291bnQta2V5LXRoYXQtbXVzdC1uZXZlci1sZWFr"
ACCOUNT_STRING = (
    f"DefaultEndpointsProtocol=https;AccountName=fleetstore;AccountKey={SECRET_KEY};"
    "EndpointSuffix=core.windows.net"
)


class FakeCredential:
    """An async token credential that is never asked for a token here; it records being closed."""

    closed = False

    async def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        raise AssertionError("no request should be made")

    async def close(self) -> None:
        self.closed = True

    async def __aenter__(self) -> FakeCredential:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None = None,
        exc: BaseException | None = None,
        traceback: TracebackType | None = None,
    ) -> None:
        await self.close()


def test_account_connection_string_derives_https_endpoints_and_hides_the_key() -> None:
    """AccountName and EndpointSuffix yield the queue and table URIs; repr never shows the key."""
    endpoints = StorageEndpoints.from_settings({"AzureWebJobsStorage": ACCOUNT_STRING})

    assert endpoints.queue_service_uri == "https://fleetstore.queue.core.windows.net"
    assert endpoints.table_service_uri == "https://fleetstore.table.core.windows.net"
    assert endpoints.connection_string == ACCOUNT_STRING
    assert not endpoints.uses_identity
    assert SECRET_KEY not in repr(endpoints)


def test_explicit_endpoints_in_a_connection_string_win() -> None:
    """QueueEndpoint and TableEndpoint in the connection string are used as given."""
    endpoints = StorageEndpoints.from_settings(
        {
            "AzureWebJobsStorage": f"AccountName=a;AccountKey={SECRET_KEY};"
            "QueueEndpoint=http://127.0.0.1:9001/a/;TableEndpoint=http://127.0.0.1:9002/a"
        }
    )
    assert endpoints.queue_service_uri == "http://127.0.0.1:9001/a"
    assert endpoints.table_service_uri == "http://127.0.0.1:9002/a"


async def test_development_storage_shorthand_points_at_the_local_emulator() -> None:
    """UseDevelopmentStorage=true means the emulator on 127.0.0.1:10001 (queues) and 10002 (tables)."""
    endpoints = StorageEndpoints.from_settings({"AzureWebJobsStorage": "UseDevelopmentStorage=true"})

    assert endpoints.queue_service_uri == "http://127.0.0.1:10001/devstoreaccount1"
    assert endpoints.table_service_uri == "http://127.0.0.1:10002/devstoreaccount1"
    assert endpoints.connection_string is not None
    async with queue_service_client(endpoints) as queues, table_service_client(endpoints) as tables:
        assert queues.url.startswith("http://127.0.0.1:10001/devstoreaccount1")
        assert tables.url.startswith("http://127.0.0.1:10002/devstoreaccount1")


def test_account_name_alone_derives_identity_based_endpoints() -> None:
    """__accountName alone gives https://{name}.queue/.table.core.windows.net with identity auth."""
    endpoints = StorageEndpoints.from_settings(
        {"AzureWebJobsStorage__accountName": "fleetstore", "AzureWebJobsStorage__clientId": "1234-abcd"}
    )
    assert endpoints == StorageEndpoints(
        queue_service_uri="https://fleetstore.queue.core.windows.net",
        table_service_uri="https://fleetstore.table.core.windows.net",
        client_id="1234-abcd",
    )
    assert endpoints.uses_identity


def test_explicit_service_uris_override_the_account_name() -> None:
    """Service URIs win over accountName; names match case-insensitively and with ':' for '__'."""
    endpoints = StorageEndpoints.from_settings(
        {
            "AzureWebJobsStorage:accountName": "fleetstore",
            "azurewebjobsstorage__QUEUESERVICEURI": "https://queues.example.net/",
            "AzureWebJobsStorage__tableServiceUri": "https://tables.example.net",
        }
    )
    assert endpoints.queue_service_uri == "https://queues.example.net"
    assert endpoints.table_service_uri == "https://tables.example.net"


def test_a_connection_string_takes_precedence_over_identity_settings() -> None:
    """When AzureWebJobsStorage holds a connection string, identity-based settings are ignored."""
    endpoints = StorageEndpoints.from_settings(
        {"AzureWebJobsStorage": ACCOUNT_STRING, "AzureWebJobsStorage__accountName": "otherstore"}
    )
    assert endpoints.queue_service_uri == "https://fleetstore.queue.core.windows.net"


def test_another_connection_name_can_be_read() -> None:
    """Settings under a different connection name are read when that name is given."""
    endpoints = StorageEndpoints.from_settings({"FleetStorage__accountName": "fleetstore"}, "FleetStorage")
    assert endpoints.table_service_uri == "https://fleetstore.table.core.windows.net"


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({}, "storage is not configured"),
        ({"AzureWebJobsStorage": "   "}, "storage is not configured"),
        ({"AzureWebJobsStorage__queueServiceUri": "https://q.example.net"}, "__tableServiceUri or"),
        ({"AzureWebJobsStorage__accountName": "Not_Valid"}, "3-24 lowercase"),
        (
            {"AzureWebJobsStorage__accountName": "ok1", "AzureWebJobsStorage__queueServiceUri": "http://q"},
            "https",
        ),
        (
            {
                "AzureWebJobsStorage__accountName": "ok1",
                "AzureWebJobsStorage__tableServiceUri": "https://t?sig=x",
            },
            "without a query string",
        ),
        ({"AzureWebJobsStorage": f"AccountName=a;{SECRET_KEY}"}, "Name=value pairs"),
        ({"AzureWebJobsStorage": "AccountName=fleetstore"}, "neither AccountKey nor SharedAccessSignature"),
        ({"AzureWebJobsStorage": f"AccountKey={SECRET_KEY}"}, "no QueueEndpoint and no AccountName"),
    ],
)
def test_unusable_settings_raise_a_clear_error_without_secrets(
    settings: dict[str, str], message: str
) -> None:
    """Missing or malformed settings raise StorageSettingsError naming the setting, never its value."""
    with pytest.raises(StorageSettingsError, match=message) as caught:
        StorageEndpoints.from_settings(settings)
    assert SECRET_KEY not in str(caught.value)
    assert caught.value.__cause__ is None


async def test_identity_based_clients_use_the_given_credential_and_leave_it_open() -> None:
    """With identity settings, adapters use the service URIs and leave a credential they were given open."""
    endpoints = StorageEndpoints.from_settings({"AzureWebJobsStorage__accountName": "fleetstore"})
    credential = FakeCredential()

    queue = AzureWorkQueue.from_endpoints(endpoints, credential)
    table = AzureStateTable.from_endpoints(endpoints, credential=credential)
    async with queue_service_client(endpoints, credential) as service:
        assert service.url.startswith("https://fleetstore.queue.core.windows.net")
    await queue.close()
    await table.close()
    assert not credential.closed


async def test_adapters_close_a_credential_they_own() -> None:
    """A credential handed over as owned is closed together with the adapter."""
    endpoints = StorageEndpoints.from_settings({"AzureWebJobsStorage__accountName": "fleetstore"})
    credential = FakeCredential()
    queue = AzureWorkQueue(queue_service_client(endpoints, credential), owned_credential=credential)
    await queue.close()
    assert credential.closed


def test_identity_settings_without_a_credential_cannot_build_a_client() -> None:
    """Building a client for identity-based settings without a credential raises StorageSettingsError."""
    endpoints = StorageEndpoints.from_settings({"AzureWebJobsStorage__accountName": "fleetstore"})
    with pytest.raises(StorageSettingsError, match="need a credential"):
        table_service_client(endpoints)


async def test_storage_from_settings_connects_with_the_functions_connection_string(azurite: Azurite) -> None:
    """storage_from_settings turns AzureWebJobsStorage into a working queue and state table."""
    queue, table = storage_from_settings(
        {"AzureWebJobsStorage": azurite.connection_string}, table_name=unique_table_name()
    )
    name = unique_queue_name()
    try:
        await queue.send(name, "hello")
        assert await queue.depth(name) == 1
        await table.upsert("p", "k", {"v": 1})
        assert [record.data for record in await table.query("p")] == [{"v": 1}]
    finally:
        await queue.close()
        await table.close()
