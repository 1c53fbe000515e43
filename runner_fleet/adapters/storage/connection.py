"""Where the queues and the state table live, read from the Functions host's storage settings.

Azure Functions defines two forms for the connection named `AzureWebJobsStorage`:
- a connection string in `AzureWebJobsStorage` (`UseDevelopmentStorage=true` included);
- identity-based settings: `AzureWebJobsStorage__queueServiceUri` and `__tableServiceUri`, or
  `__accountName` from which both are derived; `__clientId` picks a user-assigned managed identity.
Setting names match case-insensitively and accept `:` for `__`, as the host's configuration does.

Errors name settings, never their values: a connection string carries the account key, a service
URI may carry a SAS token.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from azure.data.tables.aio import TableServiceClient
from azure.storage.queue.aio import QueueServiceClient

if TYPE_CHECKING:
    from azure.core.credentials_async import AsyncTokenCredential

DEFAULT_CONNECTION = "AzureWebJobsStorage"

# The storage emulator's account; its key is public and documented, not a secret.
_DEV_ACCOUNT = "devstoreaccount1"
_DEV_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
_DEV_PORTS = {"queue": 10001, "table": 10002}

_ACCOUNT_NAME = re.compile(r"^[a-z0-9]{3,24}$")


class StorageSettingsError(ValueError):
    """The storage settings are missing or malformed."""


@dataclass(frozen=True)
class StorageEndpoints:
    """The queue and table services, and either a connection string or the identity to reach them."""

    queue_service_uri: str
    table_service_uri: str
    # Kept out of repr so that logging the endpoints never logs the account key.
    connection_string: str | None = field(default=None, repr=False)
    client_id: str | None = None

    @property
    def uses_identity(self) -> bool:
        return self.connection_string is None

    @classmethod
    def from_settings(
        cls, settings: Mapping[str, str], connection: str = DEFAULT_CONNECTION
    ) -> StorageEndpoints:
        """Read the storage connection the way the Functions host does; pass `os.environ`."""
        lookup = {name.lower().replace(":", "__"): value.strip() for name, value in settings.items()}

        def setting(suffix: str = "") -> str | None:
            return lookup.get(f"{connection}{suffix}".lower()) or None

        connection_string = setting()
        if connection_string is not None:
            return _from_connection_string(connection_string, connection)

        account = setting("__accountName")
        queue_uri = setting("__queueServiceUri")
        table_uri = setting("__tableServiceUri")
        if account is None and queue_uri is None and table_uri is None:
            raise StorageSettingsError(
                f"storage is not configured: set {connection} to a connection string, or "
                f"{connection}__accountName (or {connection}__queueServiceUri and "
                f"{connection}__tableServiceUri) for identity-based access"
            )
        if account is not None and not _ACCOUNT_NAME.match(account):
            raise StorageSettingsError(f"{connection}__accountName must be 3-24 lowercase letters and digits")
        return cls(
            queue_service_uri=_service_uri(queue_uri, account, "queue", connection, "__queueServiceUri"),
            table_service_uri=_service_uri(table_uri, account, "table", connection, "__tableServiceUri"),
            client_id=setting("__clientId"),
        )


def _service_uri(
    explicit: str | None, account: str | None, service: str, connection: str, suffix: str
) -> str:
    if explicit is None:
        if account is None:
            raise StorageSettingsError(f"{connection}{suffix} or {connection}__accountName is required")
        return f"https://{account}.{service}.core.windows.net"
    parts = urlsplit(explicit)
    # Bearer tokens only travel over TLS; a query string would be a SAS token, which is not identity.
    if parts.scheme != "https" or not parts.netloc or parts.query:
        raise StorageSettingsError(f"{connection}{suffix} must be an https URL without a query string")
    return explicit.rstrip("/")


def _from_connection_string(value: str, connection: str) -> StorageEndpoints:
    parts = _connection_string_parts(value, connection)
    if parts.get("usedevelopmentstorage", "").lower() == "true":
        return _development_storage(parts.get("developmentstorageproxyuri"), connection)
    if not parts.get("accountkey") and not parts.get("sharedaccesssignature"):
        raise StorageSettingsError(f"{connection} has neither AccountKey nor SharedAccessSignature")
    return StorageEndpoints(
        queue_service_uri=_endpoint(parts, "queue", connection),
        table_service_uri=_endpoint(parts, "table", connection),
        connection_string=value,
    )


def _connection_string_parts(value: str, connection: str) -> dict[str, str]:
    parts: dict[str, str] = {}
    for segment in value.split(";"):
        if not segment.strip():
            continue
        name, sep, setting_value = segment.partition("=")
        if not sep or not name.strip():
            raise StorageSettingsError(
                f"{connection} is not a connection string: expected Name=value pairs separated by ';'"
            )
        parts[name.strip().lower()] = setting_value.strip()
    return parts


def _endpoint(parts: Mapping[str, str], service: str, connection: str) -> str:
    explicit = parts.get(f"{service}endpoint")
    if explicit:
        return explicit.rstrip("/")
    account = parts.get("accountname")
    if not account:
        raise StorageSettingsError(
            f"{connection} has no {service.capitalize()}Endpoint and no AccountName to derive it from"
        )
    protocol = parts.get("defaultendpointsprotocol") or "https"
    suffix = parts.get("endpointsuffix") or "core.windows.net"
    return f"{protocol}://{account}.{service}.{suffix}"


def _development_storage(proxy_uri: str | None, connection: str) -> StorageEndpoints:
    base = "http://127.0.0.1"
    if proxy_uri:
        proxy = urlsplit(proxy_uri)
        if proxy.scheme not in ("http", "https") or not proxy.hostname:
            raise StorageSettingsError(f"{connection} has a DevelopmentStorageProxyUri that is not a URL")
        base = f"{proxy.scheme}://{proxy.hostname}"
    queue_uri = f"{base}:{_DEV_PORTS['queue']}/{_DEV_ACCOUNT}"
    table_uri = f"{base}:{_DEV_PORTS['table']}/{_DEV_ACCOUNT}"
    # Spelled out because the queue and table SDKs do not agree on every form of the shorthand.
    connection_string = (
        f"DefaultEndpointsProtocol=http;AccountName={_DEV_ACCOUNT};AccountKey={_DEV_KEY};"
        f"QueueEndpoint={queue_uri};TableEndpoint={table_uri};"
    )
    return StorageEndpoints(
        queue_service_uri=queue_uri, table_service_uri=table_uri, connection_string=connection_string
    )


def identity_credential(endpoints: StorageEndpoints) -> AsyncTokenCredential:
    """DefaultAzureCredential (async) for identity-based settings: the managed identity in Azure."""
    # Imported here so that connection-string deployments and the tests never load azure.identity.
    from azure.identity.aio import DefaultAzureCredential

    if endpoints.client_id:
        return DefaultAzureCredential(managed_identity_client_id=endpoints.client_id)
    return DefaultAzureCredential()


def queue_service_client(
    endpoints: StorageEndpoints, credential: AsyncTokenCredential | None = None
) -> QueueServiceClient:
    if endpoints.connection_string is not None:
        try:
            return QueueServiceClient.from_connection_string(endpoints.connection_string)
        except ValueError:
            # Re-raised without the cause: SDK messages may quote parts of the connection string.
            raise StorageSettingsError("the storage connection string is not usable for queues") from None
    return QueueServiceClient(endpoints.queue_service_uri, credential=_required(credential))


def table_service_client(
    endpoints: StorageEndpoints, credential: AsyncTokenCredential | None = None
) -> TableServiceClient:
    if endpoints.connection_string is not None:
        try:
            return TableServiceClient.from_connection_string(endpoints.connection_string)
        except ValueError:
            raise StorageSettingsError("the storage connection string is not usable for tables") from None
    return TableServiceClient(endpoints.table_service_uri, credential=_required(credential))


def _required(credential: AsyncTokenCredential | None) -> AsyncTokenCredential:
    if credential is None:
        raise StorageSettingsError("identity-based storage settings need a credential")
    return credential
