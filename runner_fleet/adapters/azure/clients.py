"""How the Azure adapters reach Resource Manager: one connection, clients built on demand.

The connection decides, from the cloud table, the token scope and every API version a client
sends. azure-mgmt-privatedns and azure-mgmt-containerservice take one version per client;
azure-mgmt-compute and azure-mgmt-network (generated per operation group) take it per call, so the
adapters pass `api_version=connection.api_versions.<field>` on each call and never rely on the
SDK's default.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from runner_fleet.adapters.azure.clouds import ApiVersions, ArmCloud, cloud_for_endpoint

T = TypeVar("T")

# Client types whose constructor takes the API version for all of their operations.
_CLIENT_LEVEL_VERSION: dict[str, Callable[[ApiVersions], str]] = {
    "PrivateDnsManagementClient": lambda v: v.private_dns,
    "ContainerServiceClient": lambda v: v.container_service,
}


@dataclass
class ArmConnection:
    """How to reach Resource Manager: the endpoint (and so the cloud), a credential, client options."""

    credential: Any
    endpoint: str = "https://management.azure.com"
    ca_bundle: str | None = None
    # Off: runner_fleet.adapters.azure.retry repeats whole operations instead, so retries never multiply.
    retry_total: int = 0
    polling_interval_s: float = 5.0
    client_options: dict[str, Any] = field(default_factory=dict)
    cloud: ArmCloud = field(init=False)

    def __post_init__(self) -> None:
        self.cloud = cloud_for_endpoint(self.endpoint)

    @property
    def api_versions(self) -> ApiVersions:
        return self.cloud.api_versions

    def client_kwargs(self, kind: Callable[..., Any]) -> dict[str, Any]:
        kwargs: dict[str, Any] = {
            "base_url": self.endpoint,
            "credential_scopes": [self.cloud.credential_scope],
            "retry_total": self.retry_total,
            "polling_interval": self.polling_interval_s,
        }
        version = _CLIENT_LEVEL_VERSION.get(getattr(kind, "__name__", ""))
        if version is not None:
            kwargs["api_version"] = version(self.api_versions)
        if self.ca_bundle:
            kwargs["connection_verify"] = self.ca_bundle
        return kwargs | self.client_options


class ArmClients:
    """Management clients, one per client type and subscription, all built on one connection.

    Clients are per subscription because a cluster's VNet and DNS zone are often in another one.
    """

    def __init__(self, connection: ArmConnection) -> None:
        self._conn = connection
        self._clients: dict[tuple[str, str], Any] = {}

    @property
    def api_versions(self) -> ApiVersions:
        return self._conn.api_versions

    def get(self, kind: Callable[..., T], subscription: str) -> T:
        key = (getattr(kind, "__name__", str(kind)), subscription.lower())
        client = self._clients.get(key)
        if client is None:
            client = kind(self._conn.credential, subscription, **self._conn.client_kwargs(kind))
            self._clients[key] = client
        return client

    async def close(self) -> None:
        """Close every client, then the credential (it may hold its own HTTP session)."""
        for client in self._clients.values():
            await client.close()
        self._clients.clear()
        close = getattr(self._conn.credential, "close", None)
        if close is not None:
            await close()


def arm_connection(
    endpoint: str,
    *,
    ca_bundle: str | None = None,
    credential: Callable[[], Any] | None = None,
    polling_interval_s: float = 5.0,
) -> ArmConnection:
    """The one way the service connects to Resource Manager; the credential defaults to
    DefaultAzureCredential (in Azure: the Function App's managed identity)."""
    from runner_fleet.adapters.azure.credentials import default_credential

    return ArmConnection(
        credential=credential() if credential is not None else default_credential(),
        endpoint=endpoint,
        ca_bundle=ca_bundle,
        polling_interval_s=polling_interval_s,
    )
