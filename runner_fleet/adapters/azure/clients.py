"""How the Azure adapters reach Resource Manager: one connection, clients built on demand."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

T = TypeVar("T")


@dataclass
class ArmConnection:
    """How to reach Resource Manager: the endpoint, a credential, and client options."""

    credential: Any
    endpoint: str = "https://management.azure.com"
    ca_bundle: str | None = None
    # Off: runner_fleet.retry repeats whole operations instead, so retries never multiply.
    retry_total: int = 0
    polling_interval_s: float = 5.0
    client_options: dict[str, Any] = field(default_factory=dict)

    def client_kwargs(self) -> dict[str, Any]:
        kwargs: dict[str, Any] = {
            "base_url": self.endpoint,
            "credential_scopes": [self.endpoint.rstrip("/") + "/.default"]
            if "management.azure.com" not in self.endpoint
            else ["https://management.azure.com/.default"],
            "retry_total": self.retry_total,
            "polling_interval": self.polling_interval_s,
        }
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

    def get(self, kind: Callable[..., T], subscription: str) -> T:
        key = (getattr(kind, "__name__", str(kind)), subscription.lower())
        client = self._clients.get(key)
        if client is None:
            client = kind(self._conn.credential, subscription, **self._conn.client_kwargs())
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
